"""Entities: who and what the features describe."""

from feast import Entity, ValueType

from marquee.features.names import TITLE, TITLE_KEY, USER, USER_KEY

user = Entity(
    name=USER,
    join_keys=[USER_KEY],
    value_type=ValueType.STRING,
    description="A member of the streaming service (dim_users.user_id).",
    tags={"owner": "team:data-platform"},
)

title = Entity(
    name=TITLE,
    join_keys=[TITLE_KEY],
    value_type=ValueType.STRING,
    description="A movie or series of the catalogue (dim_titles.title_id).",
    tags={"owner": "team:data-platform"},
)
