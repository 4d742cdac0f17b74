"""Writing files: landing-zone titles/users/events and the ground truth beside it.

Landing files are written under a staging folder outside the landing zone and renamed into
place (same file system), so ingestion never sees half a file nor a temporary name; they are byte-identical for the same configuration (gzip with mtime 0
and no file name in its header, fixed row order), so re-ingestion skips them by content hash.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from marquee.synthetic import vocabulary as V
from marquee.synthetic.catalogue import Catalogue
from marquee.synthetic.members import Members

GZIP_LEVEL = 5
# Share of users.csv cells left empty (optional fields), for realism.
MISSING_AGE, MISSING_GENDER, MISSING_OCCUPATION = 0.04, 0.06, 0.1


def write_atomic(path: Path, data: bytes, staging: Path | None = None) -> None:
    """Write ``data`` to ``path`` via a temporary file in ``staging`` (default: beside it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if staging is None:
        tmp = path.with_name(f".{path.name}.tmp")
    else:
        staging.mkdir(parents=True, exist_ok=True)
        tmp = staging / f"{path.name}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def gzip_bytes(data: bytes, level: int = GZIP_LEVEL) -> bytes:
    """Deterministic gzip: mtime 0, no file name in the header."""
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", compresslevel=level, fileobj=out, mtime=0) as gz:
        gz.write(data)
    return out.getvalue()


def titles_jsonl(catalogue: Catalogue) -> bytes:
    lines = []
    for t in range(len(catalogue)):
        row = {
            "title_id": catalogue.ids[t],
            "title": catalogue.names[t],
            "kind": V.KINDS[catalogue.kind[t]],
            "genres": catalogue.genre_sets[t],
            "release_year": int(catalogue.release_year[t]),
            "runtime_minutes": int(catalogue.runtime_minutes[t]),
            "maturity_rating": catalogue.maturity[t],
            "language": V.LANGUAGES[catalogue.language[t]],
        }
        lines.append(json.dumps(row, ensure_ascii=False, separators=(",", ":")))
    return ("\n".join(lines) + "\n").encode()


def users_csv(members: Members, rng: np.random.Generator) -> bytes:
    n = len(members)
    no_age = rng.random(n) < MISSING_AGE
    no_gender = rng.random(n) < MISSING_GENDER
    no_job = rng.random(n) < MISSING_OCCUPATION
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["user_id", "signup_date", "country", "plan", "age", "gender", "occupation"])
    for u in range(n):
        writer.writerow(
            [
                members.ids[u],
                members.signup_date[u].isoformat(),
                V.COUNTRY_CODES[members.country[u]],
                V.PLANS[members.plan[u]],
                "" if no_age[u] else int(members.age[u]),
                "" if no_gender[u] else V.GENDERS[members.gender[u]],
                "" if no_job[u] else V.OCCUPATIONS[members.occupation[u]],
            ]
        )
    return out.getvalue().encode()


def write_ground_truth(folder: Path, catalogue: Catalogue, members: Members, meta: dict) -> None:
    """Latent truth the pipeline never sees: tastes, genre vectors, quality, release instants."""
    folder.mkdir(parents=True, exist_ok=True)
    users = {
        "user_id": members.ids,
        "country": [V.COUNTRY_CODES[c] for c in members.country],
        "utc_offset_minutes": members.utc_offset_s // 60,
        "signup_day": members.signup_day,
        "activity": members.activity,
        "primary_device": [V.DEVICES[d] for d in members.primary_device],
        "click_bias": members.click_bias,
        "rating_bias": members.rating_bias,
        "taste": pa.FixedSizeListArray.from_arrays(pa.array(members.taste.ravel()), V.N_GENRES),
    }
    titles = {
        "title_id": catalogue.ids,
        "primary_genre": [V.GENRES[g] for g in catalogue.primary_genre],
        "genre_vector": pa.FixedSizeListArray.from_arrays(
            pa.array(catalogue.genre_vec.ravel()), V.N_GENRES
        ),
        "quality": catalogue.quality,
        "popularity": catalogue.popularity,
        "release_ts": pa.array(catalogue.release_ts, type=pa.timestamp("s", tz="UTC")),
        "released_in_window": catalogue.released_in_window,
        "episodes": catalogue.episodes,
    }
    for name, columns in (("users", users), ("titles", titles)):
        tmp = folder / f".{name}.parquet.tmp"
        pq.write_table(pa.table(columns), tmp)
        os.replace(tmp, folder / f"{name}.parquet")
    write_atomic(folder / "meta.json", (json.dumps(meta, indent=2, default=str) + "\n").encode())
