"""Green Button (NAESB REQ.21 ESPI) Atom XML for one usage point (SPEC S7).

A feed with the entries Green Button tools look for, linked the ESPI way (``self``,
``up`` and ``related`` links): the ``UsagePoint`` (the service point, electricity),
``LocalTimeParameters`` (JST, no daylight saving), and per flow direction a
``MeterReading``, its ``ReadingType`` (Wh with a power-of-ten multiplier, 30-minute delta
data) and one ``IntervalBlock`` per JST day of ``IntervalReading`` values.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from xml.sax.saxutils import escape

from smame.api.series import Series, value_type
from smame.readings import Quality, Quantity

__all__ = ["ESPI_QUALITY", "feed"]

_NS = 'xmlns="http://www.w3.org/2005/Atom" xmlns:espi="http://naesb.org/espi"'
_FLOW = {Quantity.ACTIVE_IMPORT: 1, Quantity.ACTIVE_EXPORT: 19}
_ACCUMULATION = {"delta": 4, "bulk": 1}
_JST_OFFSET = 32400
_PHASE_S1S2N = 769  # single-phase three-wire service


def ESPI_QUALITY(bits: int) -> int | None:  # noqa: N802 - a table as a function
    """ESPI QualityOfReading of smame quality flags; None for valid data."""
    if bits & Quality.EDITED:
        return 7
    if bits & Quality.ESTIMATED:
        return 8
    if bits & (Quality.SUSPECT | Quality.MISSING):
        return 10
    if bits & Quality.VALIDATED:
        return 17
    return None


def _time(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _entry(self_href: str, up_href: str, related: list[str], title: str, content: str,
           updated: str) -> str:
    links = [f'<link rel="self" href="{escape(self_href)}"/>',
             f'<link rel="up" href="{escape(up_href)}"/>',
             *(f'<link rel="related" href="{escape(r)}"/>' for r in related)]
    return (f"<entry><id>urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, self_href)}</id>"
            f"{''.join(links)}<title>{escape(title)}</title><content>{content}</content>"
            f"<published>{updated}</published><updated>{updated}</updated></entry>")


def _reading_type(series: Series, quantity: Quantity) -> str:
    info, rt, _unit = value_type(series.channel, series.digits)
    # ESPI counts Wh: a value step of 10**multiplier Wh.
    return ("<espi:ReadingType>"
            f"<espi:accumulationBehaviour>{_ACCUMULATION['delta']}</espi:accumulationBehaviour>"
            "<espi:commodity>1</espi:commodity>"
            "<espi:dataQualifier>12</espi:dataQualifier>"
            "<espi:defaultQuality>0</espi:defaultQuality>"
            f"<espi:flowDirection>{_FLOW[quantity]}</espi:flowDirection>"
            f"<espi:intervalLength>{info.period.minutes * 60}</espi:intervalLength>"
            "<espi:kind>12</espi:kind>"
            f"<espi:phase>{_PHASE_S1S2N}</espi:phase>"
            f"<espi:powerOfTenMultiplier>{rt.multiplier}</espi:powerOfTenMultiplier>"
            "<espi:timeAttribute>0</espi:timeAttribute>"
            "<espi:uom>72</espi:uom>"
            "</espi:ReadingType>")


def _interval_block(series: Series, day_start: int, period_s: int) -> str:
    readings = []
    spans = series.span
    for k, (t, value, quality) in enumerate(zip(series.t.tolist(), series.value.tolist(),
                                                series.quality.tolist(), strict=True)):
        duration = int(spans[k]) if spans is not None else period_s
        espi_quality = ESPI_QUALITY(quality)
        quality_xml = ("" if espi_quality is None else
                       f"<espi:ReadingQuality><espi:quality>{espi_quality}</espi:quality>"
                       "</espi:ReadingQuality>")
        readings.append(
            f"<espi:IntervalReading>{quality_xml}<espi:timePeriod>"
            f"<espi:duration>{duration}</espi:duration><espi:start>{t - duration}</espi:start>"
            f"</espi:timePeriod><espi:value>{value}</espi:value></espi:IntervalReading>")
    return ("<espi:IntervalBlock><espi:interval><espi:duration>86400</espi:duration>"
            f"<espi:start>{day_start}</espi:start></espi:interval>{''.join(readings)}"
            "</espi:IntervalBlock>")


def feed(sp_id: str, meter_id: int, curves: dict[Quantity, list[tuple[int, Series]]],
         subscription: str, now: float) -> str:
    """The Atom feed of one usage point.

    ``curves`` maps a flow direction to ``(day start, series)`` pairs, one per JST day,
    each a 30-minute curve. ``subscription`` names the Subscription in resource links.
    """
    updated = _time(now)
    base = f"/espi/1_1/resource/Subscription/{escape(subscription)}"
    up = f"{base}/UsagePoint/{sp_id}"
    ltp = "/espi/1_1/resource/LocalTimeParameters/1"
    entries = [
        _entry(up, f"{base}/UsagePoint", [f"{up}/MeterReading", ltp],
               f"Service point {sp_id} (meter {meter_id})",
               "<espi:UsagePoint><espi:roleFlags>01</espi:roleFlags><espi:ServiceCategory>"
               "<espi:kind>0</espi:kind></espi:ServiceCategory><espi:status>1</espi:status>"
               "</espi:UsagePoint>", updated),
        _entry(ltp, "/espi/1_1/resource/LocalTimeParameters", [], "JST",
               "<espi:LocalTimeParameters><espi:dstEndRule>00000000</espi:dstEndRule>"
               "<espi:dstOffset>0</espi:dstOffset><espi:dstStartRule>00000000"
               f"</espi:dstStartRule><espi:tzOffset>{_JST_OFFSET}</espi:tzOffset>"
               "</espi:LocalTimeParameters>", updated),
    ]
    for number, (quantity, days) in enumerate(sorted(curves.items()), 1):
        if not days:
            continue
        reading = f"{up}/MeterReading/{number}"
        first = days[0][1]
        info, _rt, _unit = value_type(first.channel, first.digits)
        type_id = f"{sp_id}-{number}"
        type_href = f"/espi/1_1/resource/ReadingType/{type_id}"
        direction = "forward (import)" if quantity is Quantity.ACTIVE_IMPORT else (
            "reverse (export)")
        entries.append(_entry(reading, f"{up}/MeterReading",
                              [f"{reading}/IntervalBlock", type_href],
                              f"{direction} active energy, 30-minute",
                              "<espi:MeterReading/>", updated))
        entries.append(_entry(type_href, "/espi/1_1/resource/ReadingType", [],
                              f"{info.name}, {first.digits} digits",
                              _reading_type(first, quantity), updated))
        for block, (day_start, series) in enumerate(days, 1):
            entries.append(_entry(f"{reading}/IntervalBlock/{block}",
                                  f"{reading}/IntervalBlock", [], f"day starting {day_start}",
                                  _interval_block(series, day_start, info.period.minutes * 60),
                                  updated))
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<feed {_NS}><id>urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, up)}</id>"
            f"<title>Green Button data of service point {sp_id}</title>"
            f"<updated>{updated}</updated><link rel=\"self\" href=\"{escape(up)}\"/>"
            f"{''.join(entries)}</feed>\n")
