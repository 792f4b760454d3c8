"""Shared test helpers."""

from __future__ import annotations

from datetime import datetime

from smame.clock import JST


def jst(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=JST)
