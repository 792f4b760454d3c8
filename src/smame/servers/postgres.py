"""A local PostgreSQL server that smame starts and stops itself (tests, ``smame cluster``).

``LocalPostgres(data_dir)`` creates a cluster in ``data_dir`` if there is none (trust
authentication on loopback only, one superuser ``smame``), starts it on a free port (or the
one given) and stops it. PostgreSQL refuses to run as root, so as root the server runs as
the ``postgres`` account (``nobody`` if there is none) and ``data_dir`` is handed to it.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
from pathlib import Path
from types import TracebackType

__all__ = ["BIN_DIRS", "LocalPostgres", "PostgresError", "PostgresMissingError", "find_bin"]

BIN_DIRS = (Path("/usr/lib/postgresql/15/bin"),)
"""Where the server binaries are looked for before ``PATH`` (Debian's postgresql-15)."""

USER = "smame"
"""The superuser of a local cluster (trust authentication: loopback only)."""

_FAST = ("-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
"""For throwaway clusters: a crash may lose the cluster, which is thrown away anyway."""


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


class LocalPostgres:
    """One local PostgreSQL cluster in ``data_dir``, listening on 127.0.0.1:``port``.

    The socket directory and log are beside the cluster in ``data_dir``. Use as a context
    manager, or :meth:`start` and :meth:`stop` (:meth:`kill` for a crash).
    """

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.bin = find_bin()
        self.root = Path(data_dir)
        self.port = port or free_port()
        self._account = _server_account()

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
        connections."""
        self.init()
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
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        return pid

    def kill(self) -> None:
        """SIGKILL the postmaster, as a crash would (its backends then exit)."""
        pid = self.pid()
        if pid is not None:
            os.kill(pid, signal.SIGKILL)

    def __enter__(self) -> LocalPostgres:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()
