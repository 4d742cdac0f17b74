"""The landing-zone contract (SPEC §3), in one place.

Ingestion (batch, SQL) and the API (per request) both validate against these definitions so
that a row the API accepts is a row the pipeline accepts, and vice versa.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

EVENT_TYPES: tuple[str, ...] = (
    "impression",
    "play_start",
    "play_stop",
    "rating",
    "thumbs_up",
    "thumbs_down",
    "add_to_list",
)
TITLE_KINDS: tuple[str, ...] = ("movie", "series")
MAX_WATCH_SECONDS = 86_400
MIN_RATING, MAX_RATING = 0.5, 5.0
# Clock skew tolerated before an event counts as "in the future".
FUTURE_TOLERANCE_SECONDS = 300
# RFC 3339 date-time with a mandatory offset (Z or ±hh:mm).
RFC3339_PATTERN = r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"

FieldType = Literal["string", "number", "integer", "timestamp", "date", "string_list"]


@dataclass(frozen=True)
class Field:
    name: str
    type: FieldType
    required: bool = False


@dataclass(frozen=True)
class EntityContract:
    entity: str
    key: str
    fields: tuple[Field, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.required)


EVENTS = EntityContract(
    entity="events",
    key="event_id",
    fields=(
        Field("event_id", "string", required=True),
        Field("user_id", "string", required=True),
        Field("title_id", "string", required=True),
        Field("event_type", "string", required=True),
        Field("event_ts", "timestamp", required=True),
        Field("watch_seconds", "number"),
        Field("rating", "number"),
        Field("device", "string"),
        Field("country", "string"),
        Field("row", "string"),
        Field("position", "integer"),
    ),
)

TITLES = EntityContract(
    entity="titles",
    key="title_id",
    fields=(
        Field("title_id", "string", required=True),
        Field("title", "string"),
        Field("kind", "string"),
        Field("genres", "string_list"),
        Field("release_year", "integer"),
        Field("runtime_minutes", "integer"),
        Field("maturity_rating", "string"),
        Field("language", "string"),
    ),
)

USERS = EntityContract(
    entity="users",
    key="user_id",
    fields=(
        Field("user_id", "string", required=True),
        Field("signup_date", "date"),
        Field("country", "string"),
        Field("plan", "string"),
        Field("age", "integer"),
        Field("gender", "string"),
        Field("occupation", "string"),
    ),
)

CONTRACTS: dict[str, EntityContract] = {c.entity: c for c in (EVENTS, TITLES, USERS)}

# ISO 3166-1 alpha-2 codes (officially assigned).
ISO_COUNTRIES: frozenset[str] = frozenset(
    ["AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ", "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS", "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN", "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE", "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF", "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM", "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM", "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC", "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK", "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA", "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG", "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW", "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS", "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO", "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI", "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW"]
)
