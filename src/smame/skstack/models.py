"""What differs between the Wi-SUN modules emulated: ROHM BP35A1 and BP35C2.

BP35A1 (SKSTACK IP single side): ``EVENT num sender [param]``, ``ERXUDP`` with 9 fields,
``EINFO`` ending with the 16-bit short address (0xFFFE), SKSCAN and SKSENDTO without a side
argument. BP35C2 (SKSTACK IP dual stack, HAN and B-route "sides"): EVENT and ERXUDP carry
the side (0 = B-route), ERXUDP carries the RSSI field while register SA2 is 1, ``EINFO``
ends with the side, EPANDESC has a ``Side:`` line, and SKSCAN/SKSENDTO take a side argument.
ERXUDP payloads are hex ASCII or raw binary as set by WOPT (read back by ROPT).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BP35A1", "BP35C2", "MODELS", "Model"]


@dataclass(frozen=True)
class Model:
    """One module type."""

    name: str
    dual: bool  # BP35C2: side fields and arguments
    version: str
    default_wopt: int  # ERXUDP payload format after manufacture: 1 hex ASCII, 0 binary

    @property
    def sendto_args(self) -> int:
        """Arguments of SKSENDTO before the data: handle, address, port, sec, [side], len."""
        return 6 if self.dual else 5

    @property
    def scan_args(self) -> int:
        return 4 if self.dual else 3


BP35A1 = Model("bp35a1", dual=False, version="1.2.10", default_wopt=1)
BP35C2 = Model("bp35c2", dual=True, version="1.0.2", default_wopt=0)
MODELS = {m.name: m for m in (BP35A1, BP35C2)}
