"""Start, watch and stop the processes of a local deployment (issue 13, item 6).

Each part of a deployment is one process in its own session, its output in
``ROOT/logs/NAME.log``. ``cluster.json`` (0600) in ROOT names every part started, with its
pid and the kernel's start time of that pid, so a later ``down`` stops exactly those
processes and never a process that reused a pid. Parts start in order, each only once the
one before listens; if one fails to start, the ones started are stopped again.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from smame.store.private import private_dir, tighten

__all__ = ["STATE_FILE", "ClusterError", "Part", "Running", "postgres_part", "refuse_if_running",
           "running", "start", "stop"]

STATE_FILE = "cluster.json"
_POLL_S = 0.05


class ClusterError(Exception):
    """A deployment could not be started or stopped; the message is one line."""


@dataclass(frozen=True)
class Part:
    """One process of a deployment: how to start it, where it listens."""

    name: str
    argv: tuple[str, ...]
    url: str
    port: int | None = None  # ready once 127.0.0.1:port accepts a connection
    ready_file: Path | None = None  # ready once this file exists (a part with no port)
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Running:
    name: str
    pid: int
    started: int  # the pid's start time in clock ticks since boot (/proc/PID/stat field 22)
    url: str
    log: str
    kind: str = "process"  # "postgres": stopped with pg_ctl, its data directory in ``log``'s

    def alive(self) -> bool:
        """True while this very process runs (not a zombie, not a later process on the pid)."""
        stat = _proc_stat(self.pid)
        return stat is not None and stat[0] != "Z" and stat[1] == self.started


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, start time) of ``pid`` from /proc, or None if there is no such process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2:].split()  # the command name may hold spaces
    return fields[0], int(fields[19])


def running(root: Path) -> list[Running]:
    """The parts ``cluster.json`` in ``root`` names (alive or not); [] without one."""
    try:
        entries = json.loads((root / STATE_FILE).read_text())["parts"]
    except FileNotFoundError:
        return []
    except (ValueError, KeyError, TypeError) as exc:
        raise ClusterError(f"{root / STATE_FILE}: not a cluster state file: {exc}") from None
    return [Running(**entry) for entry in entries]


def _save(root: Path, parts: Sequence[Running]) -> None:
    path = root / STATE_FILE
    scratch = path.with_suffix(".tmp")
    scratch.write_text(json.dumps({"parts": [asdict(p) for p in parts]}, indent=1) + "\n")
    tighten(scratch)
    scratch.replace(path)


def _listens(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
        return True
    return False


def _last_line(log: Path) -> str:
    with contextlib.suppress(OSError):
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
        if lines:
            return lines[-1].strip()
    return "no output"


def _await_ready(part: Part, proc: subprocess.Popen, log: Path, deadline_s: float) -> None:
    deadline = time.monotonic() + deadline_s
    while True:
        if proc.poll() is not None:
            raise ClusterError(f"{part.name} exited with status {proc.returncode} while "
                               f"starting: {_last_line(log)} (log: {log})")
        ready = (part.port is None or _listens(part.port)) and (
            part.ready_file is None or part.ready_file.exists())
        if ready:
            return
        if time.monotonic() > deadline:
            waited = (f"listen on port {part.port}" if part.port is not None
                      else f"write {part.ready_file}")
            raise ClusterError(f"{part.name} did not {waited} within {deadline_s:g} s: "
                               f"{_last_line(log)} (log: {log})")
        time.sleep(_POLL_S)


def refuse_if_running(root: Path) -> None:
    if any(p.alive() for p in running(root)):
        raise ClusterError(f"a deployment already runs in {root} (smame cluster down first)")


def start(parts: Sequence[Part], root: Path, ready_s: float = 60.0,
          started_before: Sequence[Running] = ()) -> list[Running]:
    """Start ``parts`` in order under ``root``; each must be ready before the next starts.
    ``started_before`` (a server started its own way) is stopped with them."""
    if not started_before:
        refuse_if_running(root)
    root.mkdir(mode=0o700, parents=True, exist_ok=True)  # up may have opened it to traverse
    logs = private_dir(root / "logs")
    started: list[Running] = list(started_before)
    _save(root, started)
    try:
        for part in parts:
            log = logs / f"{part.name}.log"
            with log.open("wb") as out:
                proc = subprocess.Popen(part.argv, stdin=subprocess.DEVNULL, stdout=out,
                                        stderr=subprocess.STDOUT, start_new_session=True,
                                        env={**os.environ, **part.env})
            stat = _proc_stat(proc.pid)
            started.append(Running(part.name, proc.pid, stat[1] if stat else 0, part.url,
                                   str(log)))
            _save(root, started)
            _await_ready(part, proc, log, ready_s)
    except BaseException:
        _stop_all(started)
        (root / STATE_FILE).unlink(missing_ok=True)
        raise
    return started


def _stop_all(parts: Sequence[Running], grace_s: float = 15.0) -> list[str]:
    """SIGTERM each process group, last started first; SIGKILL after ``grace_s``."""
    stopped = []
    for part in reversed(parts):
        if not part.alive():
            continue
        if part.kind == "postgres":
            _stop_postgres(part)
            stopped.append(part.name)
            continue
        with contextlib.suppress(ProcessLookupError):
            os.killpg(part.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while part.alive() and time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(part.pid, os.WNOHANG)  # reap it if it is our own child
            time.sleep(_POLL_S)
        if part.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(part.pid, signal.SIGKILL)
        stopped.append(part.name)
    return stopped


def postgres_part(server, url: str) -> Running:
    """The running entry of a started :class:`~smame.servers.postgres.LocalPostgres`
    serving the database at ``url``."""
    pid = server.pid()
    stat = _proc_stat(pid) if pid else None
    if pid is None or stat is None:
        raise ClusterError(f"PostgreSQL in {server.root} is not running (log: {server.log})")
    return Running("postgres", pid, stat[1], url, str(server.log), kind="postgres")


def _stop_postgres(part: Running) -> None:
    from urllib.parse import urlsplit

    from smame.servers.postgres import LocalPostgres, PostgresError

    server = LocalPostgres(Path(part.log).parent, urlsplit(part.url).port)
    try:
        server.stop()
    except PostgresError:
        server.kill()


def stop(root: Path, grace_s: float = 15.0) -> list[str]:
    """Stop every part ``cluster.json`` in ``root`` names; the names of those that ran."""
    parts = running(root)
    if not parts:
        raise ClusterError(f"no deployment in {root} (no {STATE_FILE})")
    stopped = _stop_all(parts, grace_s)
    (root / STATE_FILE).unlink()
    return stopped
