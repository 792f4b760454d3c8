"""Commands through the API: the two-person rule, then the head-end (SPEC S9, S14, M4,
M7, M8).

Only the distribution operator commands meters. A command reaching more meters than
``ApiConfig.mass_command_meters`` waits for a second, distinct operator account to
approve it; until then the head-end never sees it. So does a supply-changing command that
would take its operator over ``ApiConfig.operator_window_meters`` meter-commands within
the rolling ``operator_window_s``: splitting a mass command into small ones does not
escape the rule. Every command has the API's
correlation id from the moment it is submitted; once the head-end runs it, its status
and per-meter results come from the head-end's :class:`~smame.hes.commands.Command`.
Commands, approvals and outcomes are kept in the access database.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from smame.api.db import AccessDb
from smame.clock import Clock
from smame.hes.commands import Command, CommandKind, validate_params

__all__ = [
    "DANGEROUS",
    "ApiCommand",
    "CommandRejectedError",
    "CommandService",
    "HesUnavailableError",
    "Status",
]

DANGEROUS = frozenset({CommandKind.SET_LIMIT, CommandKind.RESERVE_LIMIT,
                       CommandKind.CANCEL_RESERVATION, CommandKind.DISCONNECT,
                       CommandKind.RECONNECT, CommandKind.RESET_BREAKER,
                       CommandKind.SOFT_SWITCH})
"""Commands that change a meter's supply, limit or transmission: their own, lower rate
limit (S14)."""


class Status:
    PENDING_APPROVAL = "pending_approval"
    REJECTED = "rejected"
    EXPIRED = "expired"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"
    FAILED = "failed"


class CommandRejectedError(Exception):
    """The request is well-formed but cannot be carried out now (→ 409)."""


class HesUnavailableError(Exception):
    """No head-end is connected to this API (→ 503)."""


@dataclass
class ApiCommand:
    command_id: str
    kind: CommandKind
    meter_ids: tuple[int, ...]
    params: dict[str, Any]
    submitted_by: str
    submitted_at: float
    status: str
    needs_approval: bool
    approval_reason: str | None = None
    decided_by: str | None = None
    decided_at: float | None = None
    hes_correlation_id: str | None = None
    finished_at: float | None = None
    results: dict[int, dict[str, Any]] = field(default_factory=dict)

    def public(self, with_results: bool = True, limit: int = 1000) -> dict[str, Any]:
        ok = sum(1 for r in self.results.values() if r.get("ok"))
        body: dict[str, Any] = {
            "correlation_id": self.command_id, "kind": str(self.kind),
            "meters": len(self.meter_ids), "params": self.params, "status": self.status,
            "submitted_by": self.submitted_by, "submitted_at": self.submitted_at,
            "approval": {"required": self.needs_approval, "reason": self.approval_reason,
                         "decided_by": self.decided_by, "decided_at": self.decided_at},
            "hes_correlation_id": self.hes_correlation_id, "finished_at": self.finished_at,
            "summary": {"confirmed": ok, "failed": len(self.results) - ok,
                        "pending": len(self.meter_ids) - len(self.results)},
        }
        if with_results:
            body["results"] = [{"meter_id": m, **r} for m, r in
                               sorted(self.results.items())[:limit]]
            body["meter_ids"] = list(self.meter_ids[:limit])
        return body


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, int | float | str | bool) or value is None:
        return value
    return str(value)


class CommandService:
    """Accepts, holds for approval, dispatches and tracks commands."""

    def __init__(self, db: AccessDb, clock: Clock, data_clock: Clock, headend=None,
                 mass_threshold: int = 100, approval_ttl_s: int = 3600,
                 window_meters: int = 100, window_s: float = 3600.0) -> None:
        self.db = db
        self.clock = clock  # security time: approvals, expiry, the operator window
        self.data_clock = data_clock  # meter time: reservation times
        self.mass_threshold = mass_threshold
        self.approval_ttl_s = approval_ttl_s
        self.window_meters = window_meters
        self.window_s = window_s
        self._live: dict[str, ApiCommand] = {}
        self._hes: dict[str, Command] = {}
        self._by_hes_id: dict[str, str] = {}
        self.headend = None
        if headend is not None:
            self.attach(headend)

    def attach(self, headend) -> None:
        """Send commands to ``headend`` (a :class:`smame.hes.headend.HeadEnd`)."""
        self.headend = headend
        headend.commands.on_complete(self._completed)

    # ------------------------------------------------------------------ submit/approve

    def known_meters(self) -> set[int] | None:
        if self.headend is None:
            return None
        return set(self.headend.registry.meter_ids())

    def check(self, kind: CommandKind, meter_ids: list[int], params: dict[str, Any]
              ) -> dict[str, Any]:
        """Normalised parameters; ValueError with the reason if the command is invalid."""
        if self.headend is None:
            raise HesUnavailableError("no head-end is connected to this API: commands need a live "
                                 "system (smame api serve --live-meters N)")
        unknown = sorted(set(meter_ids) - self.known_meters())
        if unknown:
            shown = ", ".join(str(m) for m in unknown[:10])
            raise ValueError(f"{len(unknown)} meter(s) are not served by the head-end: {shown}"
                             + (" …" if len(unknown) > 10 else ""))
        return validate_params(kind, params, self.data_clock.time())

    def submit(self, client_id: str, kind: CommandKind, meter_ids: list[int],
               params: dict[str, Any]) -> ApiCommand:
        targets = tuple(dict.fromkeys(int(m) for m in meter_ids))
        clean = self.check(kind, list(targets), params)
        with self.db.transaction():
            # the operator's window is counted and this command booked with no other
            # process booking one of theirs between
            self.db.lock(f"smame-operator:{client_id}")
            reason = self._approval_reason(client_id, kind, len(targets))
            needs = reason is not None
            command = ApiCommand(str(uuid.uuid4()), kind, targets, clean, client_id,
                                 self.clock.time(), Status.PENDING_APPROVAL if needs
                                 else Status.QUEUED, needs, reason)
            self._save(command, insert=True)
        if not needs:
            self._dispatch(command)
        return command

    def _approval_reason(self, client_id: str, kind: CommandKind, meters: int) -> str | None:
        """Why a command needs a second operator (None: it does not)."""
        if meters > self.mass_threshold:
            return (f"{meters} meters: more than the mass-command threshold of "
                    f"{self.mass_threshold}")
        if kind not in DANGEROUS:
            return None
        recent = self.recent_meters(client_id)
        if recent + meters > self.window_meters:
            return (f"{recent} meter-commands by this operator in the last "
                    f"{self.window_s:g} s, {recent + meters} with this one: more than "
                    f"{self.window_meters}")
        return None

    def recent_meters(self, client_id: str) -> int:
        """Meter-commands ``client_id`` sent without a second operator within the rolling
        window: supply-changing commands (:data:`DANGEROUS`) that did not need approval."""
        kinds = sorted(k.value for k in DANGEROUS)
        rows = self.db.query(
            f"SELECT COALESCE(SUM({self.db.json_length('meter_ids')}), 0) AS n FROM commands "
            f"WHERE submitted_by = ? AND submitted_at > ? AND needs_approval = 0 "
            f"AND kind IN ({', '.join('?' * len(kinds))})",
            [client_id, self.clock.time() - self.window_s, *kinds])
        return int(rows[0]["n"])

    def approve(self, client_id: str, command_id: str) -> ApiCommand:
        command = self._pending(command_id)
        if command.submitted_by == client_id:
            raise PermissionError("a mass command must be approved by a second operator, "
                                  "not by the one who submitted it")
        try:
            command.params = self.check(command.kind, list(command.meter_ids), command.params)
        except ValueError as exc:
            command.status, command.decided_by = Status.EXPIRED, client_id
            command.decided_at = self.clock.time()
            self._save(command)
            raise CommandRejectedError(f"the command can no longer run: {exc}") from None
        self._decide(command, client_id, Status.QUEUED)
        self._dispatch(command)
        return command

    def reject(self, client_id: str, command_id: str) -> ApiCommand:
        command = self._pending(command_id)
        self._decide(command, client_id, Status.REJECTED)
        return command

    def _decide(self, command: ApiCommand, client_id: str, status: str) -> None:
        """Book the decision on a pending command, unless another operator (in any API
        process sharing the book) decided it first."""
        decided_at = self.clock.time()
        claimed = self.db.execute(
            "UPDATE commands SET status = ?, decided_by = ?, decided_at = ?, params = ? "
            "WHERE command_id = ? AND status = ?",
            [status, client_id, decided_at, json.dumps(_jsonable(command.params)),
             command.command_id, Status.PENDING_APPROVAL])
        if not claimed:
            raise CommandRejectedError(f"command {command.command_id} was decided meanwhile "
                                       "by another operator")
        command.status, command.decided_by, command.decided_at = status, client_id, decided_at

    def _pending(self, command_id: str) -> ApiCommand:
        command = self.get(command_id)
        if command is None:
            raise KeyError(command_id)
        if command.status == Status.PENDING_APPROVAL and (
                self.clock.time() - command.submitted_at > self.approval_ttl_s):
            command.status = Status.EXPIRED
            self._save(command)
        if command.status != Status.PENDING_APPROVAL:
            raise CommandRejectedError(f"command {command_id} is {command.status}, not pending "
                                  "approval")
        return command

    def _dispatch(self, command: ApiCommand) -> None:
        hes_command = self.headend.commands.submit(command.kind, command.meter_ids,
                                                   command.params)
        command.hes_correlation_id = hes_command.correlation_id
        self._hes[command.command_id] = hes_command
        self._live[command.command_id] = command
        self._by_hes_id[hes_command.correlation_id] = command.command_id
        self._save(command)

    def _completed(self, done: Command) -> None:
        command_id = self._by_hes_id.pop(done.correlation_id, None)
        command = self._live.get(command_id or "")
        if command is not None:
            self._sync(command)

    # ------------------------------------------------------------------ reading

    def _sync(self, command: ApiCommand) -> ApiCommand:
        hes_command = self._hes.get(command.command_id)
        if hes_command is None:
            return command
        command.status = str(hes_command.status)
        command.results = {m: {"ok": r.ok, "value": _jsonable(r.value), "error": r.error,
                               "attempts": r.attempts} for m, r in hes_command.results.items()}
        if hes_command.done and command.finished_at is None:
            command.finished_at = self.clock.time()
            self._save(command)
            self._hes.pop(command.command_id, None)
            self._live.pop(command.command_id, None)
        return command

    def get(self, command_id: str) -> ApiCommand | None:
        live = self._live.get(command_id)
        if live is not None:
            return self._sync(live)
        rows = self.db.query("SELECT * FROM commands WHERE command_id = ?", [command_id])
        return self._row(rows[0]) if rows else None

    def list(self, status: str | None = None, meter_id: int | None = None,
             kind: str | None = None, limit: int = 100) -> list[ApiCommand]:
        sql, params = "SELECT * FROM commands WHERE 1 = 1", []
        if status:
            sql += " AND status = ?"
            params.append(status)
        if kind:
            sql += " AND kind = ?"
            params.append(kind)
        if meter_id is not None:
            sql += " AND (meter_ids LIKE ? OR meter_ids LIKE ? OR meter_ids LIKE ? " \
                   "OR meter_ids = ?)"
            m = str(int(meter_id))
            params += [f"[{m},%", f"%, {m},%", f"%, {m}]", f"[{m}]"]
        sql += " ORDER BY submitted_at DESC LIMIT ?"
        params.append(int(limit))
        out = []
        for row in self.db.query(sql, params):
            live = self._live.get(row["command_id"])
            out.append(self._sync(live) if live is not None else self._row(row))
        return out

    def _save(self, command: ApiCommand, insert: bool = False) -> None:
        values = [command.kind.value, json.dumps(list(command.meter_ids)),
                  json.dumps(_jsonable(command.params)), command.submitted_by,
                  command.submitted_at, command.status, int(command.needs_approval),
                  command.approval_reason, command.decided_by, command.decided_at,
                  command.hes_correlation_id,
                  command.finished_at,
                  json.dumps({str(m): r for m, r in command.results.items()})]
        if insert:
            self.db.execute(
                "INSERT INTO commands (kind, meter_ids, params, submitted_by, submitted_at, "
                "status, needs_approval, approval_reason, decided_by, decided_at, "
                "hes_correlation_id, finished_at, results, command_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [*values, command.command_id])
        else:
            self.db.execute(
                "UPDATE commands SET kind = ?, meter_ids = ?, params = ?, submitted_by = ?, "
                "submitted_at = ?, status = ?, needs_approval = ?, approval_reason = ?, "
                "decided_by = ?, "
                "decided_at = ?, hes_correlation_id = ?, finished_at = ?, results = ? "
                "WHERE command_id = ?", [*values, command.command_id])

    @staticmethod
    def _row(row) -> ApiCommand:
        results = json.loads(row["results"] or "{}")
        return ApiCommand(
            row["command_id"], CommandKind(row["kind"]), tuple(json.loads(row["meter_ids"])),
            json.loads(row["params"]), row["submitted_by"], row["submitted_at"], row["status"],
            bool(row["needs_approval"]), row["approval_reason"], row["decided_by"],
            row["decided_at"],
            row["hes_correlation_id"], row["finished_at"],
            {int(m): r for m, r in results.items()})
