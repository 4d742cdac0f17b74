"""Encoding users and titles into the integer / float arrays the two towers read.

A `FeatureSpace` is fixed when a model is fitted (from the data before its cutoff) and saved
with it: vocabularies of user ids, title ids, categorical values, devices and genres. Index 0
of every vocabulary is "out of vocabulary / unknown / missing", so any unseen id or value maps
to a defined input instead of an error.

Inputs of the user tower (`UserInputs`): ``id`` [n] (user-id index), ``fields`` [n, F]
(categorical user attributes, `USER_FIELDS`), ``devices`` [n, D] (share of the user's events
per device before the cutoff), ``history`` [n, H] (title-id indices of the last H titles the
user engaged with, oldest first, right-aligned, 0 = padding).

Inputs of the title tower (`TitleInputs`): ``id`` [n], ``genres`` [n, G] (multi-hot),
``year`` [n] (release-year bucket), ``kind`` [n], ``language`` [n], ``pop_bucket`` [n] (popularity-percentile
decile, 0 = never engaged before the cutoff), ``pop`` [n, 2] (log engaged users overall and in
the last ``recent_days``, each scaled by the catalogue maximum). Popularity is recomputed as of
the cutoff, never read from the all-time columns of the marts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from models.retrieval.data import USER_FIELDS, InteractionData, clean_category

YEAR_EDGES = (1950, 1960, 1970, 1980, 1990, 1995, 2000, 2005, 2010, 2015, 2020, 2023, 2025)
KINDS = ("movie", "series")
N_POP_BUCKETS = 11  # 0 = unseen, 1..10 deciles of the popularity percentile
_DAY_NS = 86_400 * 10**9

UserInputs = dict[str, np.ndarray]
TitleInputs = dict[str, np.ndarray]


def _lookup(vocab: np.ndarray, values: Any) -> np.ndarray:
    """1-based index of each value in ``vocab``; 0 when absent (or not a usable value)."""
    values = np.asarray(values, dtype=object).ravel()
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64)
    if len(vocab) == 0:
        return np.zeros(len(values), dtype=np.int64)
    cleaned = np.array([str(v) if v is not None else "\0" for v in values], dtype=object)
    return pd.Index(vocab).get_indexer(cleaned).astype(np.int64) + 1


@dataclass
class FeatureSpace:
    """Vocabularies and sizes that define the towers' inputs (saved with the model)."""

    user_vocab: np.ndarray
    title_vocab: np.ndarray
    catalogue: np.ndarray
    field_vocabs: dict[str, np.ndarray]
    devices: np.ndarray
    genres: np.ndarray
    languages: np.ndarray
    history_length: int = 30
    recent_days: int = 7
    as_of: str | None = None
    user_fields: tuple[str, ...] = field(default=USER_FIELDS)

    # ---------------------------------------------------------------- construction
    @classmethod
    def build(
        cls,
        data: InteractionData,
        history_mask: np.ndarray,
        as_of: np.datetime64,
        history_length: int = 30,
        recent_days: int = 7,
    ) -> FeatureSpace:
        rows = data.interactions[history_mask]
        user_vocab = np.array(sorted(rows["user_id"].unique()), dtype=str)
        title_vocab = np.array(sorted(rows["title_id"].unique()), dtype=str)
        known = data.users[data.users["user_id"].isin(user_vocab)]
        field_vocabs = {
            f: np.array(sorted(known[f].dropna().unique()), dtype=str) for f in USER_FIELDS
        }
        dd = data.device_days
        dd = dd[dd["day"].to_numpy() + np.timedelta64(1, "D") <= np.datetime64(as_of, "ns")]
        devices = np.array(sorted(dd["device"].dropna().unique()), dtype=str)
        genres = np.array(sorted({g for gs in data.titles["genres"] for g in gs}), dtype=str)
        languages = np.array(sorted(data.titles["language"].dropna().unique()), dtype=str)
        return cls(
            user_vocab=user_vocab,
            title_vocab=title_vocab,
            catalogue=data.titles["title_id"].to_numpy(dtype=str),
            field_vocabs=field_vocabs,
            devices=devices,
            genres=genres,
            languages=languages,
            history_length=history_length,
            recent_days=recent_days,
            as_of=str(pd.Timestamp(as_of)),
        )

    # ---------------------------------------------------------------- sizes
    @property
    def n_users(self) -> int:
        return len(self.user_vocab) + 1

    @property
    def n_titles(self) -> int:
        return len(self.title_vocab) + 1

    @property
    def field_sizes(self) -> list[int]:
        return [len(self.field_vocabs[f]) + 1 for f in self.user_fields]

    @property
    def n_years(self) -> int:
        return len(YEAR_EDGES) + 2

    @property
    def n_kinds(self) -> int:
        return len(KINDS) + 1

    @property
    def n_languages(self) -> int:
        return len(self.languages) + 1

    # ---------------------------------------------------------------- lookups
    def user_index(self, user_ids: Any) -> np.ndarray:
        return _lookup(self.user_vocab, user_ids)

    def title_index(self, title_ids: Any) -> np.ndarray:
        return _lookup(self.title_vocab, title_ids)

    def catalogue_index(self, title_ids: Any) -> np.ndarray:
        """0-based row in the catalogue, -1 when the title is not in it."""
        return _lookup(self.catalogue, title_ids) - 1

    def encode_fields(self, users: pd.DataFrame | list[dict] | dict) -> np.ndarray:
        """``[n, F]`` categorical indices; missing columns / keys / values give 0."""
        if isinstance(users, dict):
            users = [users]
        if not isinstance(users, pd.DataFrame):
            users = pd.DataFrame([u if isinstance(u, dict) else {} for u in users])
        n = len(users)
        out = np.zeros((n, len(self.user_fields)), dtype=np.int64)
        for j, f in enumerate(self.user_fields):
            if f in users and n:
                values = [clean_category(v) for v in users[f].tolist()]
                out[:, j] = _lookup(self.field_vocabs[f], values)
        return out

    def encode_device_mix(self, mix: Any) -> np.ndarray:
        """A ``{device: share}`` mapping (or a single device name) as a ``[D]`` vector."""
        vec = np.zeros(len(self.devices), dtype=np.float32)
        if mix is None or len(self.devices) == 0:
            return vec
        if isinstance(mix, str):
            mix = {mix: 1.0}
        if not isinstance(mix, dict):
            return vec
        index = {d: i for i, d in enumerate(self.devices.tolist())}
        for device, share in mix.items():
            j = index.get(clean_category(device), -1)
            try:
                value = float(share)
            except (TypeError, ValueError):
                continue
            if j >= 0 and np.isfinite(value) and value > 0:
                vec[j] += value
        total = vec.sum()
        return vec / total if total > 0 else vec

    def device_mix(self, data: InteractionData, user_ids: np.ndarray, as_of) -> np.ndarray:
        """Share of events per device for each user, from complete days before ``as_of``."""
        out = np.zeros((len(user_ids), len(self.devices)), dtype=np.float32)
        dd = data.device_days
        if len(self.devices) == 0 or len(dd) == 0:
            return out
        dd = dd[dd["day"].to_numpy() + np.timedelta64(1, "D") <= np.datetime64(as_of, "ns")]
        rows = pd.Index(user_ids).get_indexer(dd["user_id"].to_numpy())
        cols = _lookup(self.devices, dd["device"].to_numpy()) - 1
        keep = (rows >= 0) & (cols >= 0)
        np.add.at(out, (rows[keep], cols[keep]), dd["n_events"].to_numpy()[keep].astype(np.float32))
        total = out.sum(axis=1, keepdims=True)
        return np.divide(out, total, out=np.zeros_like(out), where=total > 0)

    # ---------------------------------------------------------------- titles
    def title_inputs(self, data: InteractionData, history_mask: np.ndarray, as_of) -> TitleInputs:
        """Inputs of every catalogue title, popularity as of ``as_of``."""
        titles = data.titles
        n = len(titles)
        rows = data.interactions[history_mask]
        cat_idx = self.catalogue_index(rows["title_id"].to_numpy())
        keep = cat_idx >= 0
        counts = np.bincount(cat_idx[keep], minlength=n).astype(np.float64)
        cutoff = np.datetime64(as_of, "ns") - np.timedelta64(self.recent_days * _DAY_NS, "ns")
        recent = keep & (rows["ts"].to_numpy() >= cutoff)
        recent_counts = np.bincount(cat_idx[recent], minlength=n).astype(np.float64)
        return self.encode_titles(titles, counts, recent_counts)

    def encode_titles(
        self,
        titles: pd.DataFrame,
        counts: np.ndarray | None = None,
        recent_counts: np.ndarray | None = None,
        count_scale: tuple[float, float] | None = None,
    ) -> TitleInputs:
        """Encode a frame of titles (title_id, genres, release_year, kind, language).

        ``counts`` / ``recent_counts`` are engaged users (zeros for new titles);
        ``count_scale`` gives the catalogue maxima to scale by (defaults to these counts').
        """
        n = len(titles)
        counts = np.zeros(n) if counts is None else np.asarray(counts, dtype=np.float64)
        recent = np.zeros(n) if recent_counts is None else np.asarray(recent_counts, np.float64)
        ids = titles["title_id"].astype(str).to_numpy() if "title_id" in titles else [None] * n
        genres = np.zeros((n, len(self.genres)), dtype=np.float32)
        if "genres" in titles and len(self.genres):
            gidx = pd.Index(self.genres)
            for i, gs in enumerate(titles["genres"].tolist()):
                if isinstance(gs, str):
                    gs = gs.split("|")
                if gs is None or isinstance(gs, float):
                    continue
                try:
                    cols = gidx.get_indexer([str(g) for g in gs])
                except TypeError:
                    continue
                genres[i, cols[cols >= 0]] = 1.0
        years = (
            pd.to_numeric(titles["release_year"], errors="coerce").to_numpy(dtype=float)
            if "release_year" in titles
            else np.full(n, np.nan)
        )
        year = np.where(
            np.isfinite(years),
            1 + np.searchsorted(np.asarray(YEAR_EDGES, float), np.nan_to_num(years), "right"),
            0,
        )
        kinds = titles["kind"].map(clean_category).tolist() if "kind" in titles else [None] * n
        kind = _lookup(np.asarray(KINDS), kinds)
        langs = (
            titles["language"].map(clean_category).tolist() if "language" in titles else [None] * n
        )
        language = _lookup(self.languages, langs)
        if count_scale is None:
            count_scale = (float(counts.max(initial=0.0)), float(recent.max(initial=0.0)))
        c_max, r_max = (max(v, 1.0) for v in count_scale)
        pop = np.stack(
            [np.log1p(counts) / np.log1p(c_max), np.log1p(recent) / np.log1p(r_max)], axis=1
        ).astype(np.float32)
        pop = np.clip(pop, 0.0, 1.0)
        seen = counts > 0
        pct = np.zeros(n)
        if seen.any():
            pct[seen] = pd.Series(counts[seen]).rank(pct=True, method="average").to_numpy()
        pop_bucket = np.where(seen, 1 + np.minimum((pct * 10).astype(int), 9), 0)
        return {
            "id": self.title_index(ids),
            "genres": genres,
            "year": year.astype(np.int64),
            "kind": kind,
            "language": language,
            "pop_bucket": pop_bucket.astype(np.int64),
            "pop": pop,
        }

    # ---------------------------------------------------------------- users
    def user_inputs(
        self,
        data: InteractionData,
        history_mask: np.ndarray,
        as_of,
        user_ids: np.ndarray | None = None,
    ) -> tuple[np.ndarray, UserInputs]:
        """Inputs of users (default: every user in ``data.users``) as of ``as_of``: history is
        their last H titles among the ``history_mask`` rows. Returns (user_ids, inputs)."""
        if user_ids is None:
            user_ids = data.users["user_id"].to_numpy(dtype=str)
        user_ids = np.asarray(user_ids, dtype=str)
        rows = data.interactions[history_mask]
        history = last_histories(
            pd.Index(user_ids).get_indexer(rows["user_id"].to_numpy()),
            self.title_index(rows["title_id"].to_numpy()),
            rows["ts"].to_numpy(),
            len(user_ids),
            self.history_length,
        )
        users = data.users.set_index("user_id").reindex(user_ids).reset_index()
        return user_ids, {
            "id": self.user_index(user_ids),
            "fields": self.encode_fields(users),
            "devices": self.device_mix(data, user_ids, as_of),
            "history": history,
        }

    def training_examples(
        self, data: InteractionData, train_mask: np.ndarray, as_of
    ) -> tuple[UserInputs, np.ndarray]:
        """One example per training interaction: the user's inputs *at that time* (history =
        titles engaged with strictly earlier) and the catalogue index of the title."""
        rows = data.interactions[train_mask]
        user_ids, state = self.user_inputs(
            data,
            np.zeros(len(data.interactions), dtype=bool),
            as_of,
            np.array(sorted(rows["user_id"].unique()), dtype=str),
        )
        pos = pd.Index(user_ids).get_indexer(rows["user_id"].to_numpy())
        history = sequential_histories(
            pos,
            self.title_index(rows["title_id"].to_numpy()),
            rows["ts"].to_numpy(),
            self.history_length,
        )
        inputs = {
            "id": state["id"][pos],
            "fields": state["fields"][pos],
            "devices": state["devices"][pos],
            "history": history,
        }
        return inputs, self.catalogue_index(rows["title_id"].to_numpy())

    # ---------------------------------------------------------------- persistence
    def to_arrays(self) -> dict[str, np.ndarray]:
        out = {
            "user_vocab": self.user_vocab,
            "title_vocab": self.title_vocab,
            "catalogue": self.catalogue,
            "devices": self.devices,
            "genres": self.genres,
            "languages": self.languages,
        }
        for f in self.user_fields:
            out[f"field_{f}"] = self.field_vocabs[f]
        return {k: np.asarray(v, dtype=str) for k, v in out.items()}

    def to_json(self) -> dict:
        return {
            "history_length": self.history_length,
            "recent_days": self.recent_days,
            "as_of": self.as_of,
            "user_fields": list(self.user_fields),
            "year_edges": list(YEAR_EDGES),
            "kinds": list(KINDS),
        }

    @classmethod
    def from_saved(cls, arrays: dict[str, np.ndarray], meta: dict) -> FeatureSpace:
        fields = tuple(meta["user_fields"])
        return cls(
            user_vocab=arrays["user_vocab"],
            title_vocab=arrays["title_vocab"],
            catalogue=arrays["catalogue"],
            field_vocabs={f: arrays[f"field_{f}"] for f in fields},
            devices=arrays["devices"],
            genres=arrays["genres"],
            languages=arrays["languages"],
            history_length=int(meta["history_length"]),
            recent_days=int(meta["recent_days"]),
            as_of=meta.get("as_of"),
            user_fields=fields,
        )


def _right_aligned(
    owner_start: np.ndarray, end: np.ndarray, items: np.ndarray, length: int
) -> np.ndarray:
    """Rows of ``items[max(owner_start, end - length) : end]`` right-aligned, 0-padded."""
    offsets = end[:, None] - length + np.arange(length)[None, :]
    valid = offsets >= owner_start[:, None]
    return np.where(valid, items[np.clip(offsets, 0, max(len(items) - 1, 0))], 0).astype(np.int64)


def sequential_histories(
    user_pos: np.ndarray, title_idx: np.ndarray, ts: np.ndarray, length: int
) -> np.ndarray:
    """For each row, the user's last ``length`` titles with a strictly earlier timestamp
    (oldest first, right-aligned, 0-padded). Rows keep their input order."""
    n = len(user_pos)
    if n == 0 or length == 0:
        return np.zeros((n, length), dtype=np.int64)
    t = np.asarray(ts, dtype="datetime64[ns]").astype(np.int64)
    order = np.lexsort((t, user_pos))
    u, tt, items = user_pos[order], t[order], np.asarray(title_idx)[order]
    idx = np.arange(n)
    new_user = np.r_[True, u[1:] != u[:-1]]
    new_tie = new_user | np.r_[True, tt[1:] != tt[:-1]]
    user_start = np.maximum.accumulate(np.where(new_user, idx, 0))
    tie_start = np.maximum.accumulate(np.where(new_tie, idx, 0))
    out = np.empty((n, length), dtype=np.int64)
    out[order] = _right_aligned(user_start, tie_start, items, length)
    return out


def last_histories(
    user_pos: np.ndarray, title_idx: np.ndarray, ts: np.ndarray, n_users: int, length: int
) -> np.ndarray:
    """``[n_users, length]``: each user's last ``length`` titles (oldest first, right-aligned);
    rows with ``user_pos < 0`` are ignored."""
    out = np.zeros((n_users, length), dtype=np.int64)
    keep = np.asarray(user_pos) >= 0
    if not keep.any() or length == 0:
        return out
    u = np.asarray(user_pos)[keep]
    t = np.asarray(ts, dtype="datetime64[ns]").astype(np.int64)[keep]
    items = np.asarray(title_idx)[keep]
    order = np.lexsort((items, t, u))
    u, items = u[order], items[order]
    ends = np.searchsorted(u, np.arange(n_users), side="right")
    starts = np.searchsorted(u, np.arange(n_users), side="left")
    return _right_aligned(starts, ends, items, length)
