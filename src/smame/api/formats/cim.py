"""Readings as JSON shaped on IEC 61968-9 ``MeterReadings`` (SPEC S7).

One ``MeterReading`` per meter: ``IntervalBlocks`` (one per ReadingType) of
``IntervalReadings`` for interval data, ``Readings`` for registers and instantaneous
values. ReadingTypes are the 18-field codes of ``smame.readings.CHANNELS``; a retail
(6-digit) value carries the ReadingType of its coarser unit (S4). Every value has its
quality bits, the matching IEC 61968-9 ReadingQuality codes and its MDMS version.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from smame.api.formats.timefmt import iso
from smame.api.series import Series, value_type
from smame.readings import Quality

__all__ = [
    "QUALITY_CODES",
    "Values",
    "encode",
    "interval_block",
    "meter_reading",
    "quality_refs",
    "reading_type",
]

QUALITY_CODES: dict[Quality, str] = {
    Quality.MISSING: "2.4.0",  # MDM, data collection: no value
    Quality.ESTIMATED: "2.8.0",  # MDM, estimated
    Quality.EDITED: "2.7.0",  # MDM, manually edited
    Quality.SUSPECT: "2.6.0",  # MDM, failed validation
    Quality.POWER_OUTAGE: "1.2.0",  # end device, power quality: supply lost
    Quality.DISCONNECTED: "1.1.0",  # end device, diagnostics: switch open
    Quality.BREAKER_TRIP: "1.1.0",  # end device, diagnostics: breaker tripped
    Quality.CLOCK_ADJUSTED: "1.4.0",  # end device, data collection: clock set
    Quality.PARTIAL: "1.4.0",  # end device, data collection: short interval
    Quality.REGISTER_WRAP: "1.4.0",  # end device, data collection: register wrapped
    Quality.VALIDATED: "2.0.0",  # MDM: valid, validated
}
"""smame's quality flags as IEC 61968-9 ReadingQualityType codes
(system.category.subCategory; system 1 = end device, 2 = MDM)."""


@lru_cache(maxsize=4096)
def quality_refs(bits: int) -> tuple[dict[str, str], ...]:
    if not bits:
        return ({"ref": "1.0.0", "name": "VALID"},)
    return tuple({"ref": code, "name": str(flag.name)} for flag, code in QUALITY_CODES.items()
                 if bits & flag)


@lru_cache(maxsize=1024)
def reading_type(channel: int, digits: int) -> dict[str, Any]:
    info, rt, unit = value_type(channel, digits)
    return {"mRID": rt.code, "channel": channel, "name": info.name, "unit": unit,
            "multiplier": rt.multiplier,
            "digits": digits if info.base_unit in ("kWh", "kvarh") else None,
            "intervalLength": info.period.minutes * 60 or None}


class Values:
    """A series' readings inside a body, encoded straight to JSON by :func:`encode`."""

    __slots__ = ("series",)

    def __init__(self, series: Series) -> None:
        self.series = series

    def items(self) -> list[dict[str, Any]]:
        """The readings as dicts (what :func:`encode` writes)."""
        series = self.series
        out = []
        spans = series.span
        for k, (t, value, quality, version) in enumerate(zip(
                series.t.tolist(), series.value.tolist(), series.quality.tolist(),
                series.version.tolist(), strict=True)):
            item = {"timeStamp": iso(t), "value": value, "quality": quality,
                    "version": version, "ReadingQualities": list(quality_refs(quality))}
            if spans is not None:
                item["timePeriod"] = {"start": iso(t - int(spans[k])), "end": iso(t)}
            out.append(item)
        return out

    def json(self) -> str:
        series = self.series
        if series.span is not None:
            return json.dumps(self.items(), separators=(",", ":"), ensure_ascii=False)
        return "[" + ",".join([
            f'{{"timeStamp":"{iso(t)}","value":{value},"quality":{quality},'
            f'"version":{version},"ReadingQualities":{_quality_json(quality)}}}'
            for t, value, quality, version in zip(
                series.t.tolist(), series.value.tolist(), series.quality.tolist(),
                series.version.tolist(), strict=True)]) + "]"


@lru_cache(maxsize=4096)
def _quality_json(bits: int) -> str:
    return json.dumps(list(quality_refs(bits)), separators=(",", ":"))


def interval_block(series: Series) -> dict[str, Any]:
    return {"ReadingType": reading_type(series.channel, series.digits),
            "IntervalReadings": Values(series)}


def meter_reading(meter_id: int, sp_id: str | None, lo: int, hi: int,
                  intervals: list[Series] = (), readings: list[Series] = ()) -> dict[str, Any]:
    """One ``MeterReading`` of a meter over ``[lo, hi]``; encode it with :func:`encode`."""
    body: dict[str, Any] = {
        "Meter": {"mRID": str(meter_id)},
        "UsagePoint": {"mRID": sp_id} if sp_id else None,
        "valuesInterval": {"start": iso(lo), "end": iso(hi)},
    }
    if intervals:
        body["IntervalBlocks"] = [interval_block(s) for s in intervals]
    if readings:
        body["Readings"] = [{"ReadingType": reading_type(s.channel, s.digits),
                             "values": Values(s)} for s in readings]
    return body


def encode(body: Any) -> bytes:
    """JSON of a body holding :class:`Values`: the readings are written without building a
    dict per reading (the hot path of the API)."""
    parts: list[str] = []

    def hold(value: Any) -> Any:
        if isinstance(value, Values):
            parts.append(value.json())
            return f"\x00{len(parts) - 1}\x00"
        raise TypeError(f"cannot encode {type(value).__name__}")

    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False, default=hold)
    for k, part in enumerate(parts):
        text = text.replace(f'"\\u0000{k}\\u0000"', part, 1)
    return text.encode()
