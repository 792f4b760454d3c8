"""A local PostgreSQL server that smame starts and stops itself (tests, ``smame cluster``).

``LocalPostgres(data_dir)`` creates a cluster in ``data_dir`` if there is none (trust
authentication on loopback only, one superuser ``smame``), starts it on a free port (or the
one given) and stops it. PostgreSQL refuses to run as root, so as root the server runs as
the ``postgres`` account (``nobody`` if there is none) and ``data_dir`` is handed to it.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

__all__ = ["BIN_DIRS", "LocalPostgres", "PostgresError", "PostgresMissingError", "find_bin"]

BIN_DIRS = (Path("/usr/lib/postgresql/15/bin"),)
"""Where the server binaries are looked for before ``PATH`` (Debian's postgresql-15)."""

USER = "smame"
"""The superuser of a local cluster (trust authentication: loopback only)."""

_FAST = "-c fsync=off -c full_page_writes=off"
"""Nothing is forced to disk: a killed server loses no commit (the kernel holds what it
wrote), a crash of the machine may lose the cluster. Commits stay synchronous, so what
was acknowledged survives ``kill -9``."""


class PostgresError(RuntimeError):
    """The local PostgreSQL server could not be created, started or stopped."""


class PostgresMissingError(PostgresError):
    """The PostgreSQL server binaries (initdb, pg_ctl) are not installed."""


def find_bin() -> Path:
    """The directory holding ``initdb`` and ``pg_ctl``; :class:`PostgresMissingError` if
    neither :data:`BIN_DIRS` nor ``PATH`` has them."""
    for directory in BIN_DIRS:
        if (directory / "initdb").exists() and (directory / "pg_ctl").exists():
            return directory
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).parent
    raise PostgresMissingError("PostgreSQL server binaries (initdb, pg_ctl) not found in "
                               f"{', '.join(map(str, BIN_DIRS))} or on PATH: install "
                               "postgresql-15")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server_account() -> pwd.struct_passwd | None:
    """The account the server runs as when we are root (None: as ourselves)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise PostgresError("running as root, but there is no 'postgres' or 'nobody' account "
                        "to run PostgreSQL as (it refuses root)")


def _children(pid: int) -> list[int]:
    """Process ids whose parent is ``pid`` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


class LocalPostgres:
    """One local PostgreSQL cluster in ``data_dir``, listening on 127.0.0.1:``port``.

    The socket directory and log are beside the cluster in ``data_dir``. Use as a context
    manager, or :meth:`start` and :meth:`stop` (:meth:`kill` for a crash).
    """

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.bin = find_bin()
        self.root = Path(data_dir)
        self._account = _server_account()
        self.port = port or self._running_port() or free_port()

    def _running_port(self) -> int | None:
        """The port of a server already running on this cluster (another process started
        it, say ``smame cluster up``), from its ``postmaster.pid``."""
        if self.pid() is None:
            return None
        try:
            return int((self.cluster / "postmaster.pid").read_text().splitlines()[3])
        except (OSError, IndexError, ValueError):
            return None

    @property
    def cluster(self) -> Path:
        return self.root / "cluster"

    @property
    def log(self) -> Path:
        return self.root / "postgres.log"

    @property
    def dsn(self) -> str:
        """A URL of the ``postgres`` database, as psycopg and ``--state`` take it."""
        return self.url("postgres")

    def url(self, dbname: str) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str) -> str:
        """Create database ``name`` (letters, digits, ``_``) unless it exists; its URL."""
        import psycopg
        from psycopg import sql

        if not name.replace("_", "").isalnum() or not name.isascii():
            raise PostgresError(f"database name {name!r} must be ASCII letters, digits or '_'")
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
                return self.url(name)
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop database ``name`` if it exists, closing its connections."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        prefix = [] if self._account is None else ["runuser", "-u", self._account.pw_name,
                                                   "--"]
        command = [*prefix, *args]
        try:
            return subprocess.run(command, check=True, capture_output=True, text=True,
                                  env={**os.environ, "LC_ALL": "C"}, timeout=120)
        except subprocess.CalledProcessError as exc:
            why = (exc.stderr or exc.stdout or "").strip().splitlines()
            line = why[-1] if why else f"exit {exc.returncode}"
            if "Examine the log output" in line and self.log.exists():
                logged = self.log.read_text(errors="replace").strip().splitlines()
                line = f"{logged[-1] if logged else line} (log: {self.log})"
            if self._account is not None and "Permission denied" in line:
                line += (f" (the server runs as {self._account.pw_name}: every directory above "
                         f"{self.root} must be open to it)")
            raise PostgresError(f"{Path(args[0]).name} failed: {line}") from None

    def init(self) -> None:
        """Create the cluster unless ``data_dir`` already holds one."""
        if (self.cluster / "PG_VERSION").exists():
            return
        self.root.mkdir(parents=True, exist_ok=True)
        if self._account is not None:
            os.chown(self.root, self._account.pw_uid, self._account.pw_gid)
        self._run(str(self.bin / "initdb"), "-D", str(self.cluster), "-U", USER,
                  "--auth=trust", "-E", "UTF8", "--no-sync")

    def start(self) -> LocalPostgres:
        """Create the cluster if new, start the server and wait until it accepts
        connections; nothing if it runs already."""
        self.init()
        if self.pid() is not None:
            return self
        # left by a killed server whose zombie nobody reaps: PostgreSQL would take the
        # zombie for a live server and refuse to start
        for stale in (self.cluster / "postmaster.pid",
                      self.root / f".s.PGSQL.{self.port}.lock"):
            stale.unlink(missing_ok=True)
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 {_FAST}")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.cluster), "-o", options,
                  "-l", str(self.log), "-w", "-t", "60", "start")
        return self

    def stop(self) -> None:
        """Stop the server (fast shutdown); nothing if it is not running."""
        if self.pid() is None:
            return
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.cluster), "-m", "fast", "-w",
                  "stop")

    def pid(self) -> int | None:
        """The postmaster's process id while the server runs."""
        try:
            pid = int((self.cluster / "postmaster.pid").read_text().split()[0])
        except (FileNotFoundError, IndexError, ValueError):
            return None
        return pid if _alive(pid) else None

    def kill(self, wait_s: float = 30.0) -> None:
        """SIGKILL the server's processes, as a crash of its machine would, and wait until
        they are gone (its data is then recovered by the next :meth:`start`)."""
        pid = self.pid()
        if pid is None:
            return
        doomed = [pid, *_children(pid)]
        for process in doomed:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process, signal.SIGKILL)
        deadline = time.monotonic() + wait_s
        while any(_alive(p) for p in doomed):
            if time.monotonic() > deadline:
                raise PostgresError(f"the server's processes outlived SIGKILL by {wait_s:g} s")
            time.sleep(0.01)  # poll interval

    def __enter__(self) -> LocalPostgres:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()
