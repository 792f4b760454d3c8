"""IEC 61968-9 ReadingQualityType codes of VEE outcomes, subcategory included (SPEC S7).

A code is ``system.category.subCategory``; system 2 is the MDM. Categories: 5
reasonability, 6 validation, 7 edited, 8 estimated, 10 questionable, 11 derived.
Where IEC 61968-9 names a subcategory (5.256 usage above the high reasonability
limit, 5.257 usage below the low limit; 0 the generic one of a category) it is used;
rule-specific subcategories are 1000 + the rule's reason bit, the range the standard
leaves to implementations, so every reason code has a code of its own.
"""

from __future__ import annotations

from functools import lru_cache

from smame.mdms.vee.reasons import Reason

__all__ = ["REASON_QUALITY_CODES", "quality_codes"]

_VALIDATION, _REASONABILITY, _EDITED, _ESTIMATED, _QUESTIONABLE, _DERIVED = 6, 5, 7, 8, 10, 11


def _own(category: int, reason: Reason) -> str:
    return f"2.{category}.{1000 + reason.bit_length() - 1}"


REASON_QUALITY_CODES: dict[Reason, str] = {
    Reason.SPIKE: "2.5.256",
    Reason.HIGH: "2.5.256",
    Reason.PHYSICAL_LIMIT: _own(_REASONABILITY, Reason.PHYSICAL_LIMIT),
    Reason.LOW: "2.5.257",
    Reason.VOLTAGE_STATUTORY: _own(_REASONABILITY, Reason.VOLTAGE_STATUTORY),
    Reason.NEGATIVE: _own(_VALIDATION, Reason.NEGATIVE),
    Reason.SUM_CHECK: _own(_VALIDATION, Reason.SUM_CHECK),
    Reason.TIME_FUTURE: _own(_VALIDATION, Reason.TIME_FUTURE),
    Reason.TIME_MISALIGNED: _own(_VALIDATION, Reason.TIME_MISALIGNED),
    Reason.CLOCK_ADJUSTED: _own(_QUESTIONABLE, Reason.CLOCK_ADJUSTED),
    Reason.PROLONGED_ZERO: _own(_VALIDATION, Reason.PROLONGED_ZERO),
    Reason.DUPLICATE_CONFLICT: _own(_VALIDATION, Reason.DUPLICATE_CONFLICT),
    Reason.OUTAGE: _own(_QUESTIONABLE, Reason.OUTAGE),
    Reason.DISCONNECTED: _own(_QUESTIONABLE, Reason.DISCONNECTED),
    Reason.ENERGY_WHILE_OFF: _own(_VALIDATION, Reason.ENERGY_WHILE_OFF),
    Reason.REVISED: _own(_QUESTIONABLE, Reason.REVISED),
    Reason.OUT_OF_RANGE: _own(_VALIDATION, Reason.OUT_OF_RANGE),
    Reason.NOT_REGISTERED: _own(_VALIDATION, Reason.NOT_REGISTERED),
    Reason.REGISTER_DECREASE: _own(_VALIDATION, Reason.REGISTER_DECREASE),
    Reason.UNEXPECTED_EXPORT: _own(_VALIDATION, Reason.UNEXPECTED_EXPORT),
    Reason.LATE_ARRIVAL: _own(_QUESTIONABLE, Reason.LATE_ARRIVAL),
    Reason.STALE: _own(_QUESTIONABLE, Reason.STALE),
    Reason.OUTSIDE_INSTALLATION: _own(_VALIDATION, Reason.OUTSIDE_INSTALLATION),
    Reason.GAP: f"2.{_ESTIMATED}.0",
    Reason.REPLACED_FAILED: f"2.{_ESTIMATED}.0",
    Reason.EST_LINEAR: _own(_ESTIMATED, Reason.EST_LINEAR),
    Reason.EST_PROFILE: _own(_ESTIMATED, Reason.EST_PROFILE),
    Reason.EST_REGISTER_SCALED: _own(_ESTIMATED, Reason.EST_REGISTER_SCALED),
    Reason.EST_OFF: _own(_ESTIMATED, Reason.EST_OFF),
    Reason.EDITED: f"2.{_EDITED}.0",
    Reason.DERIVED_15: f"2.{_DERIVED}.0",
}
"""Every reason code's ReadingQualityType code."""


@lru_cache(maxsize=4096)
def quality_codes(reasons: int) -> tuple[str, ...]:
    """The distinct ReadingQualityType codes of a ``reasons`` bit set, lowest bit first."""
    out: list[str] = []
    for reason, code in REASON_QUALITY_CODES.items():
        if reasons & reason and code not in out:
            out.append(code)
    return tuple(sorted(out, key=lambda c: tuple(int(p) for p in c.split("."))))
