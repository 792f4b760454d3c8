"""MDMS jobs handed to the store owner over its Unix socket, or run here when there is none.

The protocol is JSON lines over a Unix stream socket (mode 0600, in the data directory,
peers of another user refused). The client sends one request line::

    {"job": "ingest", "params": {...}, "console": {"width": 80, "color_system": null,
     "terminal": false}}

and the owner answers with lines as the job runs: ``{"out": TEXT}`` for what it prints
(and ``{"waiting": true}`` once, if the job has waited a second for its turn), then one
of ``{"exit": CODE}``, ``{"error": LINE}`` (a user error: exit 2, nothing done),
``{"crash": TRACEBACK}`` or ``{"gone": true}`` (the owner is stopping and did not start
the job). Writing jobs run one at a time, in the order the owner's turn lock gives; read-only
jobs (:data:`smame.mdms.jobs.READ_ONLY`) run at once beside them.

A job whose owner dies under it (the connection ends without an outcome) is submitted
again, to the next owner or here: every job is idempotent (ingest skips a batch already
stored by its fingerprint; a crashed commit left nothing), so running it again is safe.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import struct
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from rich.console import Console

from smame.clirun import CliError, console, err_console
from smame.mdms.jobs import JOBS, READ_ONLY, JobContext
from smame.mdms.owner import Owner, StoreLock, clear_stale, find_owner, owned, publish
from smame.store.catalog import CATALOG_FILE

if TYPE_CHECKING:
    from smame.mdms.service import Mdms

__all__ = ["JobServer", "OwnerGoneError", "run_job", "take_store_lock"]

_REQUEST_MAX = 1 << 20  # bytes of one request line
_LOCK_POLL_S = 0.05
_WAIT_NOTE_S = 1.0  # say what we wait for once waiting lasts this long
_STOP_POLL_S = 0.2


class OwnerGoneError(Exception):
    """The owner ended the connection without finishing (or starting) the job."""


# ---------------------------------------------------------------------- the owner's side


class _Wire:
    """A text stream whose writes go to the client as ``{"out": ...}`` lines."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def write(self, text: str) -> int:
        if text:
            _send(self._sock, {"out": text})
        return len(text)

    def flush(self) -> None:
        return None

    def isatty(self) -> bool:
        return False


def _send(sock: socket.socket, message: dict[str, Any]) -> None:
    sock.sendall(json.dumps(message, ensure_ascii=False).encode() + b"\n")


def _peer_uid(sock: socket.socket) -> int | None:
    if not hasattr(socket, "SO_PEERCRED"):
        return None
    _, uid, _ = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                    struct.calcsize("3i")))
    return uid


def _hung_up(sock: socket.socket) -> bool:
    """Whether the client closed its end (it was interrupted while its job waited)."""
    try:
        sock.setblocking(False)
        try:
            return sock.recv(1, socket.MSG_PEEK) == b""
        finally:
            sock.setblocking(True)
    except BlockingIOError:
        return False
    except OSError:
        return True


class JobServer:
    """Runs MDMS jobs for other processes on this owner's :class:`~smame.mdms.Mdms`.

    ``after_write`` is called after each writing job (the API retakes its registry
    snapshot: an ingested simulation registers meters).
    """

    def __init__(self, mdms: Mdms, lock: StoreLock,
                 after_write: Callable[[], None] | None = None) -> None:
        self.mdms = mdms
        self.root = Path(mdms.data_dir)
        self.lock = lock
        self.after_write = after_write
        self._turn = threading.Lock()  # one writing job at a time
        self._stopping = threading.Event()
        self._active: set[threading.Thread] = set()
        self._active_lock = threading.Lock()
        self._owned: contextlib.ExitStack | None = None
        self._listener: socket.socket | None = None
        self._acceptor: threading.Thread | None = None

    def start(self) -> JobServer:
        stack = contextlib.ExitStack()
        owner: Owner = stack.enter_context(owned(self.root, self.lock))
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with contextlib.suppress(FileNotFoundError):
            owner.socket.unlink()
        listener.bind(str(owner.socket))
        os.chmod(owner.socket, 0o600)
        listener.listen(64)
        self._listener, self._owned = listener, stack
        publish(self.root, owner)
        self._acceptor = threading.Thread(target=self._accept, name="smame-jobs-accept",
                                          daemon=True)
        self._acceptor.start()
        return self

    def stop(self) -> None:
        """Take no more jobs, withdraw the owner file, and wait for running jobs."""
        self._stopping.set()
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
        if self._acceptor is not None:
            self._acceptor.join()
        if self._owned is not None:
            self._owned.close()
        with self._active_lock:
            running = list(self._active)
        for thread in running:
            thread.join()

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(conn,), name="smame-job",
                                      daemon=True)
            with self._active_lock:
                self._active.add(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            with conn:
                self._answer(conn)
        except OSError:  # the client went away; its job's outcome is in the store
            pass
        finally:
            with self._active_lock:
                self._active.discard(threading.current_thread())

    def _answer(self, conn: socket.socket) -> None:
        uid = _peer_uid(conn)
        if uid is not None and uid not in (os.getuid(), 0):
            _send(conn, {"error": "the store owner takes jobs only from its own user"})
            return
        request = _read_request(conn)
        out = None if request is None else _console_for(request.get("console"), conn)
        name = None if request is None else request.get("job")
        if (request is None or out is None or not isinstance(name, str) or name not in JOBS
                or not isinstance(request.get("params"), dict)):
            _send(conn, {"error": "the store owner got a malformed job request"})
            return
        if name in READ_ONLY:
            self._run(conn, out, name, request["params"], writing=False)
            return
        began, noted = time.monotonic(), False
        while not self._turn.acquire(timeout=_STOP_POLL_S):
            if not noted and time.monotonic() - began > _WAIT_NOTE_S:
                _send(conn, {"waiting": True})
                noted = True
            if self._stopping.is_set():
                _send(conn, {"gone": True})
                return
            if _hung_up(conn):
                return
        try:
            if self._stopping.is_set():
                _send(conn, {"gone": True})
                return
            with self.mdms.store.write_lock:  # API edits wait too: one writer at a time
                self._run(conn, out, name, request["params"], writing=True)
            if self.after_write is not None:
                with contextlib.suppress(Exception):
                    self.after_write()
        finally:
            self._turn.release()

    def _run(self, conn: socket.socket, out: Console, name: str, params: dict[str, Any],
             writing: bool) -> None:
        try:
            with self._clock_for_job(writing) as store:
                code = JOBS[name](params, JobContext(out, store))
        except CliError as exc:
            _send(conn, {"error": str(exc)})
            return
        except Exception:
            _send(conn, {"crash": traceback.format_exc()})
            return
        _send(conn, {"exit": int(code or 0)})

    @contextlib.contextmanager
    def _clock_for_job(self, writing: bool) -> Iterator[Callable[[datetime | None], Mdms]]:
        """The store opener of a job here: this owner's store, on the job's clock if it
        names a ``--now`` (only for writing jobs, which hold the write lock)."""
        from smame.clock import SimulatedClock

        store = self.mdms.store
        kept = store.clock

        def lend(now: datetime | None) -> Mdms:
            if now is not None:
                if not writing:
                    raise CliError("a read-only job cannot set the store's clock")
                store.clock = SimulatedClock(now)
            return self.mdms

        try:
            yield lend
        finally:
            store.clock = kept


_COLOR_SYSTEMS = (None, "standard", "256", "truecolor", "windows")


def _console_for(shape: object, conn: socket.socket) -> Console | None:
    """A console printing to the client as its own would; None for a malformed shape."""
    if not isinstance(shape, dict):
        return None
    width, colors, terminal = (shape.get("width", 80), shape.get("color_system"),
                               shape.get("terminal", False))
    if (not isinstance(width, int) or isinstance(width, bool) or not 1 <= width <= 10_000
            or colors not in _COLOR_SYSTEMS or not isinstance(terminal, bool)):
        return None
    return Console(file=_Wire(conn), width=width, color_system=colors,
                   force_terminal=terminal, soft_wrap=True, highlight=False)


def _read_request(conn: socket.socket) -> dict[str, Any] | None:
    conn.settimeout(30)
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
        if len(data) > _REQUEST_MAX:
            return None
    conn.settimeout(None)
    try:
        request = json.loads(data)
    except ValueError:
        return None
    return request if isinstance(request, dict) else None


# ---------------------------------------------------------------------- the client's side


def submit(owner: Owner, sock: socket.socket, name: str, params: dict[str, Any],
           out: Console = console) -> int:
    """Run the job at ``owner``, printing what it prints; its exit code."""
    request = {"job": name, "params": params,
               "console": {"width": out.width, "color_system": out.color_system,
                           "terminal": out.is_terminal}}
    with sock:
        sock.settimeout(None)  # a job waits its turn, then runs as long as it needs
        try:
            sock.sendall(json.dumps(request).encode() + b"\n")
            answer = sock.makefile("rb")
        except OSError:
            raise OwnerGoneError(owner.pid) from None
        while (message := _next_message(answer)) is not None:
            if not _shown(message, out):
                return _outcome(message)
    raise OwnerGoneError(owner.pid)


def _next_message(answer: BinaryIO) -> dict[str, Any] | None:
    """The owner's next answer line; None when the connection ended (or was reset, or
    cut mid-line) without one: the owner died."""
    try:
        line = answer.readline()
        return json.loads(line) if line.endswith(b"\n") else None
    except (OSError, ValueError):
        return None


def _shown(message: dict[str, Any], out: Console) -> bool:
    """Print an output line of the job (or a note that it waits); False for its outcome."""
    if message.get("waiting"):
        err_console.print("waiting for the MDMS job running before this one to finish")
        return True
    if "out" not in message:
        return False
    out.file.write(message["out"])
    out.file.flush()
    return True


def _outcome(message: dict[str, Any]) -> int:
    """The exit code of a finished job (raising its user error)."""
    if "exit" in message:
        return int(message["exit"])
    if "error" in message:
        raise CliError(message["error"])
    if "crash" in message:
        err_console.print(message["crash"], markup=False, highlight=False)
        return 1
    raise OwnerGoneError(message)  # "gone": the owner is stopping and did not start it


def take_store_lock(data: Path) -> StoreLock:
    """The store lock of ``data`` for a process that will own it, once a job run in its
    own process lets it go; a :class:`CliError` if another owner holds it."""
    began, noted = time.monotonic(), False
    while True:
        lock = StoreLock(data)
        if lock.try_acquire():
            clear_stale(data)
            return lock
        found = find_owner(data)
        if found is not None:
            found[1].close()
            raise CliError(f"{data} is owned by another smame process (pid {found[0].pid})")
        noted = _note_wait(data, began, noted)
        time.sleep(_LOCK_POLL_S)  # its holder lets go when its job ends: poll for that


def _note_wait(data: Path, began: float, noted: bool) -> bool:
    if not noted and time.monotonic() - began > _WAIT_NOTE_S:
        err_console.print(f"waiting for the MDMS job running on {data} to finish",
                          soft_wrap=True)
        return True
    return noted


def run_job(data: Path, name: str, params: dict[str, Any],
            open_here: Callable[[datetime | None], Mdms], create: bool = False) -> int:
    """Run job ``name`` on the store in ``data``: at its owner if one runs, else here
    once no other job holds the store lock; its exit code.

    ``open_here(now)`` opens the store in this process (with ``create``, ``data`` may not
    exist yet: nothing is created before the job needs the store).
    """
    if create and not (data / CATALOG_FILE).is_file():  # no store yet, so no owner
        return _run_here_new(data, name, params, open_here)
    began, noted = time.monotonic(), False
    while True:
        found = find_owner(data)
        if found is not None:
            owner, sock = found
            try:
                return submit(owner, sock, name, params)
            except OwnerGoneError:
                err_console.print(f"the store owner (pid {owner.pid}) stopped before "
                                  f"finishing the {name} job; submitting it again",
                                  soft_wrap=True)
                continue
        lock = StoreLock(data)
        if lock.try_acquire():
            with lock:
                clear_stale(data)
                return _run_here(name, params, open_here)
        noted = _note_wait(data, began, noted)
        time.sleep(_LOCK_POLL_S)  # its holder lets go when its job ends: poll for that


def _run_here(name: str, params: dict[str, Any],
              open_here: Callable[[datetime | None], Mdms]) -> int:
    opened: list[Mdms] = []

    def store(now: datetime | None) -> Mdms:
        if not opened:
            opened.append(open_here(now))
        return opened[0]

    try:
        return int(JOBS[name](params, JobContext(console, store)) or 0)
    finally:
        for mdms in opened:
            mdms.close()


def _run_here_new(data: Path, name: str, params: dict[str, Any],
                  open_here: Callable[[datetime | None], Mdms]) -> int:
    """A job that creates the store: the directory and its lock file appear only when
    the job needs the store (a bad input file leaves nothing behind)."""
    lock = StoreLock(data)

    def open_new(now: datetime | None) -> Mdms:
        data.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not lock.try_acquire():
            raise CliError(f"another process started using {data} meanwhile; run again")
        return open_here(now)

    try:
        return _run_here(name, params, open_new)
    finally:
        lock.release()
