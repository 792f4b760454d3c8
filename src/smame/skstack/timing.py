"""Time on the emulated radio: scan duration, air time, the ARIB STD-T108 transmit limit.

Pure arithmetic on POSIX seconds from an injected clock (:mod:`smame.clock`); nothing
here sleeps. :class:`Timing` says which time-dependent behaviours a module emulates.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

__all__ = ["BASE_SUPERFRAME_S", "BITRATE", "FRAME_OVERHEAD", "HOUR_S", "TRANSMIT_LIMIT_S",
           "DutyMeter", "Timing",
           "airtime_s", "scan_channel_s"]

BITRATE = 100_000
"""Bits per second of the B-route radio (IEEE 802.15.4g, 920 MHz band, 100 kbps)."""
FRAME_OVERHEAD = 60
"""Bytes around a UDP payload on air: preamble, SFD, PHR, MAC header, IPHC/UDP, MIC, FCS
(an estimate; the exact figure depends on header compression)."""
TRANSMIT_LIMIT_S = 360.0
"""ARIB STD-T108: at most 360 s of transmission in any hour on the 920 MHz band."""
HOUR_S = 3600.0


@dataclass(frozen=True)
class Timing:
    """Which time-dependent behaviours the module emulates.

    ``scan``: SKSCAN takes its real duration. ``reply_delay_s``: seconds from a request
    on air to the meter's answer (real meters take about 0.1–2 s). ``transmit_limit_s``:
    transmit time allowed per sliding hour (EVENT 32/33), None for no limit. The PANA
    session lifetime (register S16, EVENT 29) always runs on the module's clock.
    """

    scan: bool = False
    reply_delay_s: float = 0.0
    transmit_limit_s: float | None = TRANSMIT_LIMIT_S

    def __post_init__(self) -> None:
        if self.reply_delay_s < 0:
            raise ValueError("reply delay cannot be negative")
        if self.transmit_limit_s is not None and self.transmit_limit_s <= 0:
            raise ValueError("the transmit limit must be positive")


BASE_SUPERFRAME_S = 960 / 100_000
"""IEEE 802.15.4 aBaseSuperframeDuration: 960 symbols at 100 ksymbol/s (2-FSK), 9.6 ms."""


def scan_channel_s(duration: int) -> float:
    """Seconds SKSCAN listens on each channel: aBaseSuperframeDuration × (2^DURATION + 1),
    0.624 s at DURATION 6 (SKSTACK IP SKSCAN; IEEE 802.15.4 ScanDuration)."""
    return BASE_SUPERFRAME_S * (2 ** duration + 1)


def airtime_s(payload_bytes: int) -> float:
    """Seconds on air of one UDP datagram of ``payload_bytes``."""
    return (payload_bytes + FRAME_OVERHEAD) * 8 / BITRATE


class DutyMeter:
    """Transmit time in the last hour, against a limit of ``limit_s`` seconds."""

    def __init__(self, limit_s: float) -> None:
        self.limit_s = limit_s
        self._sent: deque[tuple[float, float]] = deque()  # (start, seconds on air)

    def used_s(self, now: float) -> float:
        """Transmit seconds in (now - 1 h, now]."""
        while self._sent and self._sent[0][0] <= now - HOUR_S:
            self._sent.popleft()
        return sum(seconds for _, seconds in self._sent)

    def allows(self, now: float, seconds: float) -> bool:
        return self.used_s(now) + seconds <= self.limit_s

    def record(self, now: float, seconds: float) -> None:
        self._sent.append((now, seconds))

    def free_at(self, now: float, seconds: float) -> float:
        """Earliest time from ``now`` at which ``seconds`` more fit within the limit."""
        used = self.used_s(now)
        for start, spent in self._sent:
            if used + seconds <= self.limit_s:
                break
            used -= spent
            now = start + HOUR_S
        return now
