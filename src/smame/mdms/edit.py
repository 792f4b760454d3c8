"""Manual editing of measurements under control: validated, coded, approved (SPEC S1).

An edit is a new version with source MANUAL carrying the user, a reason code from
:data:`EDIT_REASONS` and an optional note. Before it is stored it passes the same
validation as received data (no negative energy, on the slot boundary, not in the
future, within the meter's physical bound, a meter the MDMS knows), and an edit that
changes more than ``VeeConfig.edit_approval_wh`` of energy waits for a second person's
approval (:func:`approve_request`). Edits are protected from later actuals by the
version precedence (``vee/precedence.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import duckdb
import numpy as np
import pyarrow as pa

from smame.clock import JST, from_epoch, to_epoch
from smame.mdms.events import OffSpans
from smame.mdms.vee.channels import IS_ENERGY_INTERVAL, IS_ENERGY_REGISTER
from smame.mdms.vee.config import VeeConfig
from smame.mdms.vee.physical import WH_PER_UNIT, PhysicalLimits
from smame.mdms.vee.reasons import Reason, reason_names
from smame.mdms.vee.state import SeriesState, series_key
from smame.mdms.vee.validate import Rows, validate_rows
from smame.readings import Quality, Source, channel_info
from smame.store.catalog import scalar
from smame.store.layout import MEAS
from smame.store.measurements import MeasurementStore, ts_seconds

__all__ = [
    "EDIT_REASONS",
    "EditApprovalRequiredError",
    "EditError",
    "EditRequest",
    "approve_request",
    "check_edit",
    "edit_rows",
    "reject_request",
    "request_edit",
]

_TS = pa.timestamp("s", tz="UTC")

EDIT_REASONS: dict[str, str] = {
    "METER_EXCHANGE": "values carried over or split at a meter exchange (計器取替)",
    "FIELD_READ": "a reading taken on site by a technician",
    "CUSTOMER_READ": "a reading supplied by the customer",
    "ESTIMATE_CORRECTION": "a better estimate than the automatic one (known vacancy, event)",
    "DATA_ENTRY_ERROR": "correction of an earlier manual entry",
    "CT_RATIO_CORRECTION": "the instrument transformer ratio or multiplier was wrong",
    "TAMPER_ADJUSTMENT": "energy assessed after a tamper or theft investigation",
    "SETTLEMENT_DISPUTE": "a value agreed with the retailer or the customer",
}
"""The reason-code catalogue of manual edits: code -> what it means."""


class EditError(ValueError):
    """An edit is refused (no user, unknown reason code, failed validation...)."""


class EditApprovalRequiredError(EditError):
    """The edit is above the approval threshold: stored as a request awaiting a second
    person (``request_id``)."""

    def __init__(self, request_id: int, change_wh: int) -> None:
        super().__init__(f"edit request {request_id} changes {change_wh:,} Wh and needs a "
                         "second person's approval")
        self.request_id = request_id
        self.change_wh = change_wh


@dataclass(frozen=True)
class EditRequest:
    """The outcome of :func:`request_edit`: applied (``version``) or ``pending``."""

    request_id: int
    status: str  # applied | pending
    change_wh: int
    version: int | None = None


def _seconds(moment: datetime | int | Sequence[int]) -> np.ndarray:
    if isinstance(moment, datetime):
        return np.array([int(to_epoch(moment))], np.int64)
    return np.atleast_1d(np.asarray(moment, np.int64))


def edit_rows(meter_id, channel, interval_end, value) -> pa.Table:
    """The edited values as a measurement table (quality EDITED | VALIDATED)."""
    t = _seconds(interval_end)
    meters = np.atleast_1d(np.asarray(meter_id, np.int64))
    channels = np.atleast_1d(np.asarray(channel, np.uint16))
    values = np.atleast_1d(np.asarray(value, np.int64))
    n = max(t.size, meters.size, channels.size, values.size)
    t, meters, channels, values = (np.broadcast_to(a, n).copy() for a in
                                   (t, meters, channels, values))
    for code in np.unique(channels):
        try:
            channel_info(int(code))
        except (KeyError, ValueError) as exc:
            raise EditError(f"no channel {int(code)}") from exc
    order = np.lexsort((t, channels, meters))
    return pa.table({
        "meter_id": pa.array(meters[order], pa.int64()),
        "interval_end": pa.array(t[order]).view(_TS),
        "channel": pa.array(channels[order], pa.uint16()),
        "value": pa.array(values[order], pa.int64()),
        "quality": pa.array(np.full(n, Quality.EDITED | Quality.VALIDATED, np.uint16)),
        "source": pa.array(np.full(n, Source.MANUAL, np.uint8)),
        "reasons": pa.array(np.full(n, Reason.EDITED, np.uint32)),
    })


def check_edit(table: pa.Table, user: str, reason: str, config: VeeConfig, now: float,
               state: SeriesState, limits: PhysicalLimits) -> None:
    """Refuse an edit that a person would not be allowed to make: no user, a reason not in
    the catalogue, a meter the MDMS does not know, or a value that fails validation."""
    if not user or not user.strip():
        raise EditError("an edit needs the user who makes it")
    if reason not in EDIT_REASONS:
        raise EditError(f"edit reason {reason!r} is not a reason code: use one of "
                        f"{', '.join(EDIT_REASONS)}")
    meters = table.column("meter_id").to_numpy()
    channels = table.column("channel").to_numpy()
    if not limits.checked:
        # No registry: a meter is known when the MDMS has data of it.
        _, found = state.find(series_key(meters, channels))
        if not found.all():
            index = int(np.argmin(found))
            raise EditError(f"meter {meters[index]} has no channel {channels[index]} data "
                            "to edit")
    rows = Rows(meters, ts_seconds(table.column("interval_end")), channels,
                table.column("value").to_numpy(), np.zeros(len(meters), np.uint16),
                np.full(len(meters), Source.MANUAL, np.uint8))
    no_spans = OffSpans(*(np.empty(0, np.int64) for _ in range(3)), np.empty(0, np.int8))
    result = validate_rows(rows, state, config, now, no_spans, limits=limits)
    failed = np.flatnonzero(result.quality & np.uint16(Quality.SUSPECT))
    if failed.size:
        k = int(failed[0])
        raise EditError(f"edit of meter {meters[k]} channel {channels[k]} at "
                        f"{from_epoch(int(rows.t[k])).astimezone(JST).isoformat()} fails "
                        f"validation: {', '.join(reason_names(int(result.reasons[k])))}")


def change_wh(table: pa.Table, current: pa.Table) -> int:
    """Energy an edit moves, in Wh: the sum of |new − current| (current 0 where there is
    none) over the energy channels."""
    new = table.select(["meter_id", "channel", "interval_end", "value"])
    old = current.select(["meter_id", "channel", "interval_end", "value"]).rename_columns(
        ["meter_id", "channel", "interval_end", "old"]).cast(pa.schema([
            ("meter_id", pa.int64()), ("channel", pa.uint16()), ("interval_end", _TS),
            ("old", pa.int64())])) if current.num_rows else None
    joined = new.join(old, ["meter_id", "channel", "interval_end"]) if old is not None else (
        new.append_column("old", pa.array(np.zeros(new.num_rows, np.int64))))
    code = joined.column("channel").to_numpy().astype(np.intp)
    energy = IS_ENERGY_INTERVAL[code] | IS_ENERGY_REGISTER[code]
    delta = np.abs(joined.column("value").to_numpy()
                   - joined.column("old").fill_null(0).to_numpy().astype(np.int64))
    return int(np.rint((delta * WH_PER_UNIT[code])[energy].sum()))


def request_edit(store: MeasurementStore, table: pa.Table, user: str, reason: str, note: str,
                 threshold_wh: int) -> EditRequest:
    """Record an edit request; apply it at once when it moves at most ``threshold_wh``."""
    with store.write_lock:
        con = store.con
        previous = _current(store, con, table)
        moved = change_wh(table, previous)
        request_id = int(scalar(con, "SELECT coalesce(max(request_id), 0) + 1 FROM "
                                     "edit_requests"))
        pending = moved > threshold_wh
        version = None if pending else store.new_version()
        infos = [] if pending else store.stage(MEAS, version, table)

        def work(c: duckdb.DuckDBPyConnection) -> None:
            c.execute("INSERT INTO edit_requests VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?)",
                      [request_id, store.now(), user, reason, note, table.num_rows, moved,
                       "pending" if pending else "applied", version])
            c.register("_edit_rows", table)
            c.execute("INSERT INTO edit_request_rows SELECT ?, meter_id, channel, "
                      "interval_end, value FROM _edit_rows", [request_id])
            c.unregister("_edit_rows")
            if not pending:
                _apply(c, table, previous, version, store.now(), user, reason, note, None)

        store.commit(infos, work)
    return EditRequest(request_id, "pending" if pending else "applied", moved, version)


def approve_request(store: MeasurementStore, request_id: int, approver: str) -> int:
    """Apply a pending edit request approved by a second person; returns its version."""
    with store.write_lock:
        con = store.con
        user, reason, note = _pending(con, request_id)
        if not approver or not approver.strip():
            raise EditError("an approval needs the approver")
        if approver == user:
            raise EditError(f"edit request {request_id} must be approved by a second person, "
                            f"not {user}")
        table = _request_table(con, request_id)
        previous = _current(store, con, table)
        version = store.new_version()
        infos = store.stage(MEAS, version, table)

        def work(c: duckdb.DuckDBPyConnection) -> None:
            c.execute("UPDATE edit_requests SET status = 'applied', approver = ?, "
                      "decided_at = ?, version = ? WHERE request_id = ?",
                      [approver, store.now(), version, request_id])
            _apply(c, table, previous, version, store.now(), user, reason, note, approver)

        store.commit(infos, work)
    return version


def reject_request(store: MeasurementStore, request_id: int, approver: str) -> None:
    """Reject a pending edit request; nothing is stored but the decision."""
    with store.write_lock:
        con = store.con
        _pending(con, request_id)
        con.execute("UPDATE edit_requests SET status = 'rejected', approver = ?, decided_at = ? "
                    "WHERE request_id = ?", [approver, store.now(), request_id])


def _pending(con: duckdb.DuckDBPyConnection, request_id: int) -> tuple[str, str, str]:
    rows = con.execute("SELECT user_name, reason, note, status FROM edit_requests "
                       "WHERE request_id = ?", [int(request_id)]).fetchall()
    if not rows:
        raise EditError(f"no edit request {request_id}")
    user, reason, note, status = rows[0]
    if status != "pending":
        raise EditError(f"edit request {request_id} is {status}, not pending")
    return user, reason, note


def _request_table(con: duckdb.DuckDBPyConnection, request_id: int) -> pa.Table:
    rows = con.sql("SELECT meter_id, channel, epoch(interval_end)::BIGINT AS t, value FROM "
                   f"edit_request_rows WHERE request_id = {int(request_id)}").to_arrow_table()
    return edit_rows(rows.column("meter_id").to_numpy(), rows.column("channel").to_numpy(),
                     rows.column("t").to_numpy(), rows.column("value").to_numpy())


def _apply(c: duckdb.DuckDBPyConnection, table: pa.Table, previous: pa.Table, version: int,
           now: datetime, user: str, reason: str, note: str, approver: str | None) -> None:
    """The catalog side of an applied edit: version, edit row, the current values it
    supersedes (``previous``, read before the edit's file was committed)."""
    c.execute("INSERT INTO versions (version, kind, committed_at, rows_new, validated, "
              "user_name, reason) VALUES (?, 'edit', ?, ?, TRUE, ?, ?)",
              [version, now, table.num_rows, user, reason])
    c.execute("INSERT INTO edits (version, user_name, reason, rows, note, approver) "
              "VALUES (?, ?, ?, ?, ?, ?)", [version, user, reason, table.num_rows, note,
                                            approver])
    if previous.num_rows:
        c.register("_edit_prev", previous)
        c.execute("INSERT INTO superseded SELECT meter_id, channel, interval_end, "
                  "version, ? FROM _edit_prev", [version])
        c.unregister("_edit_prev")


def _current(store: MeasurementStore, con: duckdb.DuckDBPyConnection,
             table: pa.Table) -> pa.Table:
    t = ts_seconds(table.column("interval_end"))
    paths = store.file_paths(con, MEAS, int(t.min()), int(t.max()))
    if not paths:
        return pa.table({"meter_id": pa.array([], pa.int64()), "channel": pa.array([], pa.uint16()),
                         "interval_end": pa.array([], _TS), "version": pa.array([], pa.int64()),
                         "value": pa.array([], pa.int64())})
    relation = store.scan_sql(paths, True, store.has_superseded(con))
    con.register("_edit_keys", table)
    try:
        return con.sql(f"SELECT m.meter_id, m.channel, m.interval_end, m.version, m.value "
                       f"FROM {relation} m JOIN _edit_keys k ON m.meter_id = k.meter_id "
                       "AND m.channel = k.channel AND m.interval_end = k.interval_end"
                       ).to_arrow_table()
    finally:
        con.unregister("_edit_keys")
