"""matplotlib without a display, for the analyses' PNG reports."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

__all__ = ["figure", "save"]


def figure(width: float, height: float) -> tuple[Figure, plt.Axes]:
    return plt.subplots(figsize=(width, height))


def save(fig: Figure, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
