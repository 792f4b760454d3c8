"""Reading batches on the wire: Arrow IPC stream bytes, one batch per message.

A message is one reading batch (``smame.readings.SCHEMA``) as an Arrow IPC stream. Its
message id is the MDMS shard and the batch's content fingerprint, so JetStream stores a
publisher's retry once, and the MDMS (idempotent by fingerprint) ingests it once even past
the bus's duplicate window. :func:`decode` is the one parser of bytes from the network:
anything that is not a valid reading batch is a :class:`PoisonMessageError`.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.ipc as ipc

from smame.mdms.rows import fingerprint
from smame.readings import BatchError, validate_batch

__all__ = ["PoisonMessageError", "decode", "encode", "message_id", "split_to_fit"]

ROW_BYTES = 29  # meter_id 8 + interval_end 8 + channel 2 + value 8 + quality 2 + source 1
IPC_OVERHEAD_BYTES = 4096  # schema and framing of an IPC stream, generously


class PoisonMessageError(ValueError):
    """A message that is not a reading batch; ``reason`` is a short label for metrics."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


def encode(batch: pa.Table) -> bytes:
    """``batch`` as the bytes of an Arrow IPC stream."""
    sink = pa.BufferOutputStream()
    with ipc.new_stream(sink, batch.schema) as writer:
        writer.write_table(batch)
    return sink.getvalue().to_pybytes()


def decode(data: bytes) -> pa.Table:
    """The reading batch in ``data``; :class:`PoisonMessageError` says why it is not one."""
    try:
        table = ipc.open_stream(pa.py_buffer(data)).read_all()
    except (pa.ArrowException, ValueError, OSError) as exc:
        raise PoisonMessageError("not_arrow", f"not an Arrow IPC stream ({exc})") from None
    try:
        return validate_batch(table)
    except BatchError as exc:
        raise PoisonMessageError("wrong_schema", f"not a reading batch ({exc})") from None


def message_id(shard: int, batch: pa.Table) -> str:
    """The JetStream de-duplication id of ``batch`` bound for MDMS shard ``shard``."""
    return f"{shard:03d}-{fingerprint(batch)}"


def split_to_fit(batch: pa.Table, max_bytes: int) -> list[pa.Table]:
    """``batch`` in consecutive slices whose IPC encoding stays under ``max_bytes``."""
    rows = max(1, (max_bytes - IPC_OVERHEAD_BYTES) // ROW_BYTES)
    if batch.num_rows <= rows:
        return [batch]
    return [batch.slice(start, rows) for start in range(0, batch.num_rows, rows)]
