"""Load ``feature_repo/`` for a Marquee home and apply it to that home's registry.

``feast apply`` imports the repo's files as top-level modules (``entities``,
``data_sources``, ...) from inside the folder; the sources read ``$MARQUEE_HOME`` when they
are imported. To load the definitions for a given home in-process (Dagster, tests with
several homes), the modules are imported afresh with that ``MARQUEE_HOME`` and removed from
``sys.modules`` again, so nothing leaks between homes and the generic module names never
shadow anything else.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from feast import FeatureStore
from feast.repo_contents import RepoContents
from feast.repo_operations import (
    apply_total_with_repo_instance,
    extract_objects_for_apply_delete,
    get_repo_files,
)

from marquee.config import MarqueeHome
from marquee.features.config import FEATURE_REPO
from marquee.features.names import PROJECT

PROJECT_DESCRIPTION = ""

_LOCK = threading.Lock()


@contextmanager
def _repo_import_context(home: MarqueeHome) -> Iterator[list[str]]:
    modules = [p.stem for p in get_repo_files(FEATURE_REPO)]
    saved_env = os.environ.get("MARQUEE_HOME")
    with _LOCK:
        saved_bytecode = sys.dont_write_bytecode
        sys.dont_write_bytecode = True  # nothing is written into the repo at run time
        os.environ["MARQUEE_HOME"] = str(home.root)
        sys.path.insert(0, str(FEATURE_REPO))
        for name in modules:
            sys.modules.pop(name, None)
        try:
            yield modules
        finally:
            for name in modules:
                sys.modules.pop(name, None)
            sys.path.remove(str(FEATURE_REPO))
            sys.dont_write_bytecode = saved_bytecode
            if saved_env is None:
                os.environ.pop("MARQUEE_HOME", None)
            else:
                os.environ["MARQUEE_HOME"] = saved_env


def load_repo_contents(home: MarqueeHome) -> RepoContents:
    """The Feast objects defined in ``feature_repo/``, with sources under ``home``."""
    from feast import Entity, FeatureService, FeatureView
    from feast.data_source import DataSource, PushSource
    from feast.project import Project

    contents = RepoContents(
        projects=[], data_sources=[], entities=[], feature_views=[], feature_services=[],
        on_demand_feature_views=[], stream_feature_views=[], label_views=[], permissions=[],
    )

    def add(bucket: list, obj) -> None:
        if not any(obj is seen for seen in bucket):
            bucket.append(obj)

    with _repo_import_context(home) as modules:
        for name in modules:
            module = importlib.import_module(name)
            for attr in dir(module):
                obj = getattr(module, attr)
                if isinstance(obj, PushSource):
                    add(contents.data_sources, obj)
                    add(contents.data_sources, obj.batch_source)
                elif isinstance(obj, DataSource):
                    add(contents.data_sources, obj)
                elif isinstance(obj, FeatureView):
                    add(contents.feature_views, obj)
                elif isinstance(obj, Entity):
                    add(contents.entities, obj)
                elif isinstance(obj, FeatureService):
                    add(contents.feature_services, obj)
                elif isinstance(obj, Project):
                    add(contents.projects, obj)
    if not contents.projects:  # as `feast apply` does: the project of feature_store.yaml
        contents.projects.append(Project(name=PROJECT, description=PROJECT_DESCRIPTION))
    return contents


def _without_meta(value):
    """A copy of a data source proto without its ``meta`` (creation / update times)."""
    if not hasattr(value, "ClearField") or not hasattr(value, "meta"):
        return value
    copy = type(value)()
    copy.CopyFrom(value)
    copy.ClearField("meta")
    if copy.HasField("batch_source"):
        copy.batch_source.ClearField("meta")
    return copy


def _is_real_change(diff) -> bool:
    """Feast stamps every DataSource object with its creation time, and a feature view keeps
    the stamp of its sources once it has been materialized: without this, every freshly
    imported definition would look like an update of every materialized feature view."""
    if diff.transition_type.name == "UNCHANGED":
        return False
    if diff.transition_type.name != "UPDATE":
        return True
    return any(
        _without_meta(p.val_existing) != _without_meta(p.val_declared)
        for p in diff.feast_object_property_diffs
    )


def _describe(diff) -> str:
    verb = {"CREATE": "Created", "DELETE": "Deleted", "UPDATE": "Updated"}.get(
        diff.transition_type.name, diff.transition_type.name.title()
    )
    kind = diff.feast_object_type.name.lower().replace("_", " ")
    fields = [p.property_name for p in diff.feast_object_property_diffs]
    return f"{verb} {kind} {diff.name}" + (f" ({', '.join(fields)})" if fields else "")


@dataclass
class ApplySummary:
    changed: bool
    infra_changed: bool
    diff: str
    entities: list[str]
    feature_views: list[str]
    feature_services: list[str]
    data_sources: list[str]
    deleted: list[str]


def apply_repo(store: FeatureStore, home: MarqueeHome) -> ApplySummary:
    """Make the registry match ``feature_repo/`` (adds, updates and deletes); idempotent.

    Unchanged objects are left untouched, so their materialization history survives.
    """
    repo = load_repo_contents(home)
    registry_diff, infra_diff, _ = store.plan(repo)
    changes = [d for d in registry_diff.feast_object_diffs if _is_real_change(d)]
    changed = bool(changes)
    diff_text = "\n".join(_describe(d) for d in changes) or "No changes to registry"
    _, to_delete, _, _ = extract_objects_for_apply_delete(store.project, store.registry, repo)
    infra_changed = bool(infra_diff.infra_object_diffs) and any(
        d.transition_type.name != "UNCHANGED" for d in infra_diff.infra_object_diffs
    )
    if changed or infra_changed:
        # What `feast apply` does (registry diff, then the online store's tables). The
        # sources are Parquet exports that may not exist yet on a first run: not checked.
        with contextlib.redirect_stdout(io.StringIO()):
            apply_total_with_repo_instance(
                store, store.project, store.registry, repo, skip_source_validation=True
            )
    store.refresh_registry()
    return ApplySummary(
        changed=changed,
        infra_changed=infra_changed,
        diff=diff_text,
        entities=sorted(e.name for e in repo.entities),
        feature_views=sorted(fv.name for fv in repo.feature_views),
        feature_services=sorted(fs.name for fs in repo.feature_services),
        data_sources=sorted(ds.name for ds in repo.data_sources),
        deleted=sorted(getattr(o, "name", str(o)) for o in to_delete),
    )
