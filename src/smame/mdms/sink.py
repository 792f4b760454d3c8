"""The MDMS as a head-end sink: a callable that takes reading batches (SPEC S1).

``MdmsSink(mdms)`` can be handed to the head-end (or to ``Fleet.advance``) wherever a
``smame.hes.sinks.ReadingSink`` is expected. Each call ingests and validates one batch;
when it returns, the batch is committed (durable), so the caller may acknowledge it.
"""

from __future__ import annotations

import pyarrow as pa

from smame.mdms.service import IngestResult, Mdms

__all__ = ["MdmsSink"]


class MdmsSink:
    """Ingests every batch it is called with; keeps running totals."""

    def __init__(self, mdms: Mdms, source_name: str = "hes", validate: bool = True) -> None:
        self.mdms = mdms
        self.source_name = source_name
        self.validate = validate
        self.batches = 0
        self.rows = 0
        self.stored = 0
        self.last: IngestResult | None = None

    def __call__(self, batch: pa.Table) -> None:
        result = self.mdms.ingest(batch, source_name=self.source_name, validate=self.validate)
        self.batches += 1
        self.rows += result.received
        self.stored += result.stored
        self.last = result
