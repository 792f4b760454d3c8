"""The field-network parameters: one versioned YAML file, validated field by field.

``default.yaml`` (package data) holds every parameter with its default; a user file
overlays it. A bad value is refused with one line naming the file and the field, e.g.
``fan.yaml: multihop.phy_kbps: must be one of 50, 100, 150, 200 (got 75)``.
"""

from __future__ import annotations

import dataclasses
import math
import types
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, get_type_hints

import yaml

__all__ = [
    "CONFIG_VERSION",
    "METHODS",
    "FanConfig",
    "FanConfigError",
    "load_config",
    "load_mix",
]

CONFIG_VERSION = 1
METHODS = ("multihop", "1n", "plc")


class FanConfigError(ValueError):
    """A config file that cannot be used; the message is one line naming file and field."""


@dataclass(frozen=True)
class Check:
    """A field's constraint: an inclusive range, or a set of allowed values."""

    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] | None = None

    def problem(self, value: Any) -> str | None:
        if self.choices is not None and value not in self.choices:
            return f"must be one of {', '.join(str(c) for c in self.choices)}"
        if self.low is not None and value < self.low:
            return f"must be within {self.low:g}–{self.high:g}" if self.high is not None \
                else f"must be at least {self.low:g}"
        if self.high is not None and value > self.high:
            return f"must be within {self.low:g}–{self.high:g}" if self.low is not None \
                else f"must be at most {self.high:g}"
        return None


def num(low: float | None = None, high: float | None = None) -> Any:
    return field(metadata={"check": Check(low, high)})


def one_of(*choices: Any) -> Any:
    return field(metadata={"check": Check(choices=choices)})


def share() -> Any:
    return num(0.0, 1.0)


@dataclass(frozen=True, kw_only=True)
class SizeRange:
    """Meters per concentrator or cell: lognormal around ``mean``, clipped to [min, max]."""

    mean: int = num(1, 100_000)
    min: int = num(1, 100_000)
    max: int = num(1, 100_000)


@dataclass(frozen=True, kw_only=True)
class Mix:
    multihop: float = share()
    one_n: float = field(metadata={"check": Check(0.0, 1.0), "key": "1n"})
    plc: float = share()

    def shares(self) -> dict[str, float]:
        return {"multihop": self.multihop, "1n": self.one_n, "plc": self.plc}


@dataclass(frozen=True, kw_only=True)
class Fleet:
    meters: int = num(1, 200_000_000)
    mix: Mix = field()
    first_generation_share: float = share()
    sample_areas: int = num(1, 100_000)
    seed: int = num(0, 2**32 - 1)


@dataclass(frozen=True, kw_only=True)
class Traffic:
    push_window_s: float = num(0, 1800)
    pull_grace_s: float = num(0, 1800)
    pull_rounds: int = num(0, 20)
    pull_backoff_s: float = num(1, 3600)
    realtime_share: float = share()
    historical_share: float = share()
    historical_window_h: tuple[float, float] = field(metadata={"check": Check(0, 24)})
    push_bytes: int = num(16, 2048)
    session_bytes: int = num(0, 65535)
    session_exchanges: int = num(1, 64)
    profile_row_bytes: int = num(1, 1024)
    target_utilisation: float = num(0.05, 1.0)
    retention_days: int = num(1, 400)


@dataclass(frozen=True, kw_only=True)
class LinkLayer:
    """What the mesh and PLC share: per-link errors, MAC retries, framing, channel access."""

    link_per: float = num(0.0, 0.9)
    link_per_spread: float = num(0.0, 3.0)
    mac_retries: int = num(0, 15)
    frame_payload_bytes: int = num(16, 2047)
    frame_overhead_bytes: int = num(0, 512)
    cca_ms: float = num(0, 100)
    backoff_mean_ms: float = num(0, 1000)
    ack_ms: float = num(0, 1000)


@dataclass(frozen=True, kw_only=True)
class Multihop(LinkLayer):
    phy_kbps: int = one_of(50, 100, 150, 200)
    meters_per_concentrator: SizeRange = field()
    hops_at_500: int = num(1, 64)
    max_hops: int = num(1, 64)
    cca_ms: float = num(0.128, 100)  # ARIB STD-T108: at least 128 µs of carrier sense
    collision_hops: int = num(1, 64)
    max_tx_s: float = num(0.001, 4.0)
    pause_ms: float = num(0, 1000)
    hourly_tx_budget_s: float = num(1, 360)
    backhaul_kbps: float = num(1, 1e7)


@dataclass(frozen=True, kw_only=True)
class OneN:
    meters_per_cell: SizeRange = field()
    reference_devices: int = num(1, 10_000_000)
    reference_uplinks_per_hour: float = num(0.01, 3600)
    reference_bytes: int = num(1, 65535)
    share_of_cell_for_meters: float = num(0.01, 1.0)
    sessions_per_cell: int = num(1, 10_000)
    attach_s: float = num(0, 600)
    paging_s: float = num(0, 3600)
    transaction_loss: float = num(0.0, 0.9)
    coverage_hole_share: float = share()


@dataclass(frozen=True, kw_only=True)
class Plc(LinkLayer):
    phy_kbps: float = num(5.6, 45.0)
    meters_per_concentrator: SizeRange = field()
    max_hops: int = num(1, 32)
    evening_noise_factor: float = num(1.0, 10.0)


@dataclass(frozen=True, kw_only=True)
class Outage:
    """A share of areas (or meters) unreachable from ``start_h`` (hours into the day)."""

    share: float = share()
    start_h: float = num(0, 24)
    hours: float = num(0, 400 * 24)


@dataclass(frozen=True, kw_only=True)
class Burst:
    share: float = share()
    start_h: float = num(0, 24)
    hours: float = num(0, 24)
    per: float = num(0.0, 1.0)


@dataclass(frozen=True, kw_only=True)
class Faults:
    concentrator_down: Outage = field()
    interference_burst: Burst = field()
    cell_outage: Outage = field()
    meter_off_mesh: Outage = field()


@dataclass(frozen=True, kw_only=True)
class FanConfig:
    version: int = one_of(CONFIG_VERSION)
    fleet: Fleet = field()
    traffic: Traffic = field()
    multihop: Multihop = field()
    one_n: OneN = field(metadata={"key": "1n"})
    plc: Plc = field()
    faults: Faults = field()


def _key(f: dataclasses.Field) -> str:
    return f.metadata.get("key", f.name)


def _scalar(value: Any, kind: Any, where: str) -> Any:
    if kind is bool or isinstance(value, bool):
        raise FanConfigError(f"{where}: must be a number (got {value!r})")
    if kind is int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int):
            raise FanConfigError(f"{where}: must be a whole number (got {value!r})")
        return value
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise FanConfigError(f"{where}: must be a number (got {value!r})")
    return float(value)


def _build(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise FanConfigError(f"{where or 'top level'}: must be a mapping (got {data!r})")
    hints = get_type_hints(cls)
    fields = {_key(f): f for f in dataclasses.fields(cls)}
    unknown = sorted(set(map(str, data)) - fields.keys())
    if unknown:
        raise FanConfigError(f"{where + '.' if where else ''}{unknown[0]}: unknown field")
    values = {}
    for key, f in fields.items():
        path = f"{where}.{key}" if where else key
        if key not in data:
            raise FanConfigError(f"{path}: missing")
        kind, value = hints[f.name], data[key]
        if dataclasses.is_dataclass(kind):
            values[f.name] = _build(kind, value, path)
            continue
        if isinstance(kind, types.GenericAlias):  # tuple[float, float]
            if not isinstance(value, list | tuple) or len(value) != 2:
                raise FanConfigError(f"{path}: must be a pair [from, to] (got {value!r})")
            value = tuple(_scalar(v, float, path) for v in value)
            items = value
        else:
            value = _scalar(value, kind, path)
            items = (value,)
        check: Check | None = f.metadata.get("check")
        for item in items:
            problem = check.problem(item) if check else None
            if problem:
                raise FanConfigError(f"{path}: {problem} (got {item!r})")
        values[f.name] = value
    return cls(**values)


def _cross_checks(config: FanConfig) -> None:
    mix = config.fleet.mix.shares()
    if abs(sum(mix.values()) - 1.0) > 1e-6:
        raise FanConfigError(f"fleet.mix: shares must add up to 1 (got {sum(mix.values()):g})")
    t = config.traffic
    if t.realtime_share + t.historical_share > 1:
        raise FanConfigError("traffic.historical_share: the two 5-minute groups cannot "
                             "cover more than all meters")
    if t.historical_window_h[0] >= t.historical_window_h[1]:
        raise FanConfigError("traffic.historical_window_h: must be [from, to] with from < to")
    for name, size in (("multihop", config.multihop.meters_per_concentrator),
                       ("1n", config.one_n.meters_per_cell),
                       ("plc", config.plc.meters_per_concentrator)):
        if not size.min <= size.mean <= size.max:
            raise FanConfigError(f"{name}: sizes must satisfy min <= mean <= max "
                                 f"(got {size.min}, {size.mean}, {size.max})")


def _merge(base: dict, overlay: dict) -> dict:
    merged = dict(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merged[key] = _merge(base[key], value)
        else:
            merged[key] = value
    return merged


def default_document() -> dict:
    """The shipped default.yaml as a mapping."""
    text = resources.files("smame.fan").joinpath("default.yaml").read_text("utf-8")
    return yaml.safe_load(text)


def _read(path: Path) -> dict:
    try:
        document = yaml.safe_load(path.read_text("utf-8"))
    except OSError as exc:
        raise FanConfigError(f"{path.name}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        raise FanConfigError(f"{path.name}: not YAML{at}") from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise FanConfigError(f"{path.name}: must be a mapping of sections")
    return document


def from_document(document: dict, name: str = "default.yaml") -> FanConfig:
    """Validate a whole document (every field present); errors name ``name``."""
    try:
        config = _build(FanConfig, document, "")
        _cross_checks(config)
    except FanConfigError as exc:
        raise FanConfigError(f"{name}: {exc}") from None
    return config


def load_config(path: Path | None = None, overrides: dict | None = None) -> FanConfig:
    """The defaults, overlaid by the file at ``path`` and then by ``overrides``."""
    document = default_document()
    name = "default.yaml"
    if path is not None:
        overlay = _read(path)
        if "version" in overlay and overlay["version"] != CONFIG_VERSION:
            raise FanConfigError(f"{path.name}: version: must be {CONFIG_VERSION} "
                                 f"(got {overlay['version']!r})")
        document, name = _merge(document, overlay), path.name
    if overrides:
        document = _merge(document, overrides)
    return from_document(document, name)


def load_mix(path: Path, config: FanConfig) -> FanConfig:
    """``config`` with its method mix replaced by the mapping in a mix file
    (``{multihop: 0.8, 1n: 0.1, plc: 0.1}``; missing methods count as 0)."""
    overlay = _read(path)
    unknown = sorted(set(map(str, overlay)) - set(METHODS))
    if unknown:
        raise FanConfigError(f"{path.name}: {unknown[0]}: unknown method "
                             f"(methods: {', '.join(METHODS)})")
    mix = {m: overlay.get(m, 0.0) for m in METHODS}
    document = _to_keys(config)
    document["fleet"]["mix"] = mix
    return from_document(document, path.name)


def _to_keys(obj: Any) -> Any:
    """A config back to a document with the YAML keys ("1n", not "one_n")."""
    if dataclasses.is_dataclass(obj):
        return {_key(f): _to_keys(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, tuple):
        return list(obj)
    return obj
