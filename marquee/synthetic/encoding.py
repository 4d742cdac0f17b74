"""Events -> JSON Lines bytes, vectorised with Arrow string kernels (no Python object per event).

Every field becomes a string fragment (mostly looked up in small precomputed tables with
``take``); one ``binary_join_element_wise`` glues them, each line ending in a newline, so the
resulting string array's data buffer *is* the file content. Fields that do not apply are null
fragments, replaced by nothing: they are absent from the JSON, never ``null``.
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from marquee.contracts import EVENT_TYPES
from marquee.synthetic import vocabulary as V
from marquee.synthetic.catalogue import Catalogue
from marquee.synthetic.events import EventBatch
from marquee.synthetic.members import Members

MAX_POSITION = 64


def _frag(template: str, values) -> pa.Array:
    return pa.array([template.format(json.dumps(v)) for v in values], type=pa.string())


class EventEncoder:
    """Precomputed fragments for one data set; `encode` turns a one-UTC-day batch into bytes."""

    def __init__(self, seed: int, catalogue: Catalogue, members: Members):
        self.prefix = f'{{"event_id":"ev-{seed}-'
        self.user = _frag('","user_id":{}', members.ids)
        self.user_country = pa.array(np.asarray(members.country, dtype=np.int32))
        self.title = _frag(',"title_id":{}', catalogue.ids)
        self.etype = _frag(',"event_type":{},"event_ts":"', EVENT_TYPES)
        self.hms = pa.array(
            [f"{h:02d}:{m:02d}:{s:02d}Z" for h in range(24) for m in range(60) for s in range(60)],
            type=pa.string(),
        )
        self.rating = _frag(',"rating":{}', [k / 2 for k in range(11)])
        self.device = _frag(',"device":{}', V.DEVICES)
        self.country = _frag(',"country":{}', V.COUNTRY_CODES)
        self.row = _frag(',"row":{}', V.ROW_NAMES)
        self.position = pa.array(
            [f',"position":{p}' for p in range(MAX_POSITION)], type=pa.string()
        )

    def encode(self, batch: EventBatch, day: dt.date, first_number: int) -> bytes:
        """JSON Lines for ``batch`` (all events on UTC ``day``), event numbers from ``first_number``."""
        n = len(batch)
        if n == 0:
            return b""
        day_start = (day - dt.date(1970, 1, 1)).days * 86_400
        second = batch.ts - day_start
        if second.min() < 0 or second.max() >= 86_400:
            raise ValueError(f"events outside {day.isoformat()} in its batch")
        number = pc.cast(
            pa.array(np.arange(first_number, first_number + n, dtype=np.int64)), pa.string()
        )
        country = self.user_country.take(pa.array(batch.user))

        def opt(table: pa.Array, index: np.ndarray) -> pa.Array:
            return table.take(pa.array(index, mask=index < 0))

        watch = pc.binary_join_element_wise(
            ',"watch_seconds":',
            pc.cast(pa.array(batch.watch, mask=batch.watch < 0), pa.string()),
            "",
        )
        lines = pc.binary_join_element_wise(
            self.prefix,
            number,
            self.user.take(pa.array(batch.user)),
            self.title.take(pa.array(batch.title)),
            self.etype.take(pa.array(batch.etype)),
            f"{day.isoformat()}T",
            self.hms.take(pa.array(second)),
            '"',
            watch,
            opt(self.rating, batch.rating2),
            opt(self.device, batch.device),
            self.country.take(country),
            opt(self.row, batch.row),
            opt(self.position, batch.position),
            "}\n",
            "",
            null_handling="replace",
            null_replacement="",
        )
        if isinstance(lines, pa.ChunkedArray):
            lines = lines.combine_chunks()
        offsets = np.frombuffer(
            lines.buffers()[1], dtype=np.int32, count=len(lines) + 1, offset=lines.offset * 4
        )
        data = lines.buffers()[2]
        return data[int(offsets[0]) : int(offsets[-1])].to_pybytes()
