"""Which version of a value is current: precedence by quality, then recency (SPEC S1).

"Latest wins" alone lets a late value that failed VEE replace a good estimate. Every
version is kept; the current one is the version of the best class, the newest within a
class. Classes, best first by default: a validated actual, a manual edit, an estimate,
an actual that failed validation. A manual edit is also protected from later actuals
(``protect_edits``), so an analyst's correction stands until a person changes it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from smame.readings import Quality, Source

__all__ = ["DEFAULT_PRECEDENCE", "VERSION_CLASSES", "Precedence", "version_class"]

VERSION_CLASSES = ("validated_actual", "edited", "estimate", "failed_actual")
DEFAULT_PRECEDENCE = VERSION_CLASSES


def version_class(quality: np.ndarray, source: np.ndarray) -> np.ndarray:
    """Index into :data:`VERSION_CLASSES` of each value (uint16 quality, uint8 source)."""
    quality = np.asarray(quality)
    source = np.asarray(source)
    out = np.zeros(quality.shape, np.int8)
    out[(quality & int(Quality.SUSPECT)) > 0] = 3
    out[source == int(Source.ESTIMATION)] = 2
    out[(source == int(Source.MANUAL)) | ((quality & int(Quality.EDITED)) > 0)] = 1
    return out


@dataclass(frozen=True)
class Precedence:
    """Order of the version classes (best first) and whether edits are protected."""

    order: tuple[str, ...] = DEFAULT_PRECEDENCE
    protect_edits: bool = True

    def __post_init__(self) -> None:
        if sorted(self.order) != sorted(VERSION_CLASSES):
            raise ValueError(f"precedence must order exactly {', '.join(VERSION_CLASSES)}")

    def keeps_old(self, new_quality: np.ndarray, new_source: np.ndarray,
                  old_quality: np.ndarray, old_source: np.ndarray) -> np.ndarray:
        """Where a newly arriving value must not replace the current one."""
        rank = np.array([self.order.index(name) for name in VERSION_CLASSES], np.int8)
        new_class = version_class(new_quality, new_source)
        old_class = version_class(old_quality, old_source)
        worse = rank[new_class] > rank[old_class]
        if self.protect_edits:
            worse |= (old_class == 1) & (new_class != 1)
        return worse
