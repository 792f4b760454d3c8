"""Shared test helpers."""

from __future__ import annotations

import os
from datetime import datetime

from smame.clock import JST

# The tests match the CLI's English messages, whatever the developer's locale (smame.messages).
os.environ["LC_ALL"] = "C.UTF-8"


def jst(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=JST)
