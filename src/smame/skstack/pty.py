"""The emulated module on a pseudo-terminal: the thin I/O adapter of :mod:`.module`.

The slave side is put in raw mode and kept open, so clients (pyserial, momonga, screen)
can open and close the device as they would a USB dongle. ``link`` is an optional
symlink to the slave device, e.g. ``/tmp/ttyWISUN``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tty
from pathlib import Path

from smame.skstack.module import WiSunModule

__all__ = ["PtyDongle"]

MAX_BACKLOG = 1 << 20  # bytes kept for a client that does not read; a UART would drop them


class PtyDongle:
    """``module`` on a new pty; call :meth:`start` inside a running event loop."""

    def __init__(self, module: WiSunModule, link: Path | None = None) -> None:
        self.module = module
        self.link = link
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        self.device = os.ttyname(self._slave)
        self._backlog = bytearray()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.Task[None] | None = None
        self._timer_due: float | None = None
        self.activity = asyncio.Event()
        """Set after every write to the client: a supervisor can wait for the module."""
        if link is not None:
            with contextlib.suppress(FileNotFoundError):
                link.unlink()
            link.symlink_to(self.device)

    @property
    def path(self) -> str:
        """What a client opens: the symlink if there is one, else the slave device."""
        return str(self.link) if self.link is not None else self.device

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._master, self._readable)

    def _readable(self) -> None:
        try:
            data = os.read(self._master, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return  # EIO while no client holds the device open
        self.module.receive_data(data)
        self.flush()

    def flush(self) -> None:
        """Write what the module has to say by now; keep the rest until the client reads,
        and wake up on the module's clock when it next has something to say."""
        self._backlog += self.module.data_to_send()
        self.activity.set()
        if len(self._backlog) > MAX_BACKLOG:
            del self._backlog[:len(self._backlog) - MAX_BACKLOG]
        while self._backlog:
            try:
                written = os.write(self._master, self._backlog)
            except (BlockingIOError, InterruptedError):
                break
            del self._backlog[:written]
        if self._loop is not None:
            if self._backlog:
                self._loop.add_writer(self._master, self.flush)
            else:
                self._loop.remove_writer(self._master)
            self._schedule()

    def _schedule(self) -> None:
        assert self._loop is not None
        due = self.module.next_due()
        if self._timer is not None:
            if due == self._timer_due:
                return  # already waiting for that moment
            self._timer.cancel()
            self._timer = None
        if due is not None:
            self._timer_due = due
            self._timer = self._loop.create_task(self._wake(due))

    async def _wake(self, due: float) -> None:
        clock = self.module.clock
        await clock.sleep(due - clock.time())
        self._timer = None
        self.flush()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._loop is not None:
            self._loop.remove_reader(self._master)
            self._loop.remove_writer(self._master)
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)
        if self.link is not None:
            with contextlib.suppress(FileNotFoundError):
                self.link.unlink()
