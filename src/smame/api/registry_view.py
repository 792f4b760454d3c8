"""An in-memory snapshot of the MDMS registry, for access decisions at request speed
(SPEC S4, S6, S13, S15).

The registry (``smame.store.registry.Registry``) answers SQL; the API asks "which service
point is this meter on, who supplies it and when" on every request, so it keeps the
answer in dictionaries and reloads them when told the registry changed.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from smame.store.layout import day_start
from smame.store.registry import Registry

__all__ = [
    "COMMUNICATING_KIND",
    "OPT_OUT_KINDS",
    "Contract",
    "JointMeter",
    "MeterInfo",
    "RegistryView",
    "ServicePoint",
    "Tenancy",
    "derived_tenancies",
]

COMMUNICATING_KIND = "electric"
"""``meters.kind`` of a communicating (smart) electricity meter."""
OPT_OUT_KINDS = frozenset({"conventional", "non_communicating", "opt_out"})
"""``meters.kind`` values of a non-communicating meter installed after an opt-out (S15)."""


@dataclass(frozen=True)
class MeterInfo:
    meter_id: int
    sp_id: str | None
    kind: str
    unit_exponent: int
    installed: date | None

    @property
    def communicating(self) -> bool:
        return self.kind == COMMUNICATING_KIND


@dataclass(frozen=True)
class ServicePoint:
    sp_id: str
    transformer_id: int | None
    feeder_id: int | None
    voltage: int | None
    contract_amps: int | None
    meters: tuple[int, ...]
    opted_out: bool  # S15: the customer declined the communicating meter

    @property
    def communicating(self) -> bool:
        return not self.opted_out and bool(self.meters)


@dataclass(frozen=True)
class Contract:
    sp_id: str
    retailer_id: str
    valid_from: date
    valid_to: date | None

    def window(self) -> tuple[int, int | None]:
        """The supply period as POSIX seconds ``[start, end)`` (end None: open)."""
        return day_start(self.valid_from), (day_start(self.valid_to) if self.valid_to
                                            else None)

    def covers(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day < self.valid_to)


@dataclass(frozen=True)
class Tenancy:
    """One customer's hold of the supply at a service point, ``[move_in, move_out)``."""

    sp_id: str
    customer_id: str
    move_in: date
    move_out: date | None
    derived: bool = False  # from unbroken supply contracts: the registry names no customer

    def window(self) -> tuple[int, int | None]:
        return day_start(self.move_in), (day_start(self.move_out) if self.move_out
                                         else None)

    def covers(self, day: date) -> bool:
        return self.move_in <= day and (self.move_out is None or day < self.move_out)

    def public(self) -> dict:
        return {"customer_id": self.customer_id, "move_in": self.move_in.isoformat(),
                "move_out": self.move_out.isoformat() if self.move_out else None,
                "derived": self.derived}


def derived_tenancies(sp_id: str, contracts: list[Contract]) -> list[Tenancy]:
    """Tenancies of a service point whose registry names no customer: each unbroken run of
    supply contracts is one customer (a switch of retailer keeps the customer; a gap in
    supply — 廃止 then 再点 — is a move). Contracts sorted by ``valid_from``."""
    runs: list[list[date | None]] = []
    for c in contracts:
        if runs and runs[-1][1] is not None and c.valid_from <= runs[-1][1]:
            end = runs[-1][1]
            runs[-1][1] = None if c.valid_to is None else max(end, c.valid_to)
        elif runs and runs[-1][1] is None:
            continue
        else:
            runs.append([c.valid_from, c.valid_to])
    return [Tenancy(sp_id, f"{sp_id}:{start.isoformat()}", start, end, True)
            for start, end in runs]


@dataclass(frozen=True)
class JointMeter:
    meter_id: int
    kind: str  # gas | water
    host_meter_id: int
    company_id: str | None


def _rows(registry: Registry, name: str) -> list[dict]:
    return registry.table(name).to_pylist()


class RegistryView:
    """Meters, service points, supply contracts, joint meters, sub-meters and topology."""

    def __init__(self) -> None:
        self.meters: dict[int, MeterInfo] = {}
        self.service_points: dict[str, ServicePoint] = {}
        self.contracts: dict[str, list[Contract]] = {}
        self.tenancies: dict[str, list[Tenancy]] = {}
        self.by_retailer: dict[str, list[str]] = {}
        self.joint: dict[int, JointMeter] = {}
        self.joint_by_company: dict[str, list[int]] = {}
        self.companies: dict[str, str] = {}
        self.sub_meters: dict[int, list[tuple[int, str]]] = {}
        self.transformer_feeder: dict[int, int] = {}
        self.transformer_sps: dict[int, list[str]] = {}
        self.retailers: dict[str, str | None] = {}
        self.retailer_groups: list[tuple[str, str, date, date | None]] = []

    @classmethod
    def load(cls, registry: Registry) -> RegistryView:
        view = cls()
        view.transformer_feeder = {int(r["transformer_id"]): int(r["feeder_id"])
                                   for r in _rows(registry, "transformers")}
        by_sp: dict[str, list[MeterInfo]] = defaultdict(list)
        for r in _rows(registry, "meters"):
            info = MeterInfo(int(r["meter_id"]), r["sp_id"], str(r["kind"]),
                             int(r["unit_exponent"] if r["unit_exponent"] is not None else -2),
                             r["installed"])
            view.meters[info.meter_id] = info
            if info.sp_id:
                by_sp[info.sp_id].append(info)
        transformer_sps: dict[int, list[str]] = defaultdict(list)
        for r in _rows(registry, "service_points"):
            sp_id = str(r["sp_id"])
            meters = sorted(by_sp.get(sp_id, []), key=lambda m: m.meter_id)
            kinds = {m.kind for m in meters}
            transformer = None if r["transformer_id"] is None else int(r["transformer_id"])
            view.service_points[sp_id] = ServicePoint(
                sp_id, transformer, view.transformer_feeder.get(transformer)
                if transformer is not None else None,
                r["voltage"], r["contract_amps"],
                tuple(m.meter_id for m in meters if m.communicating),
                bool(kinds & OPT_OUT_KINDS) and COMMUNICATING_KIND not in kinds)
            if transformer is not None:
                transformer_sps[transformer].append(sp_id)
        view.transformer_sps = dict(transformer_sps)
        contracts: dict[str, list[Contract]] = defaultdict(list)
        by_retailer: dict[str, set[str]] = defaultdict(set)
        for r in _rows(registry, "supply_contracts"):
            contract = Contract(str(r["sp_id"]), str(r["retailer_id"]), r["valid_from"],
                                r["valid_to"])
            contracts[contract.sp_id].append(contract)
            by_retailer[contract.retailer_id].add(contract.sp_id)
        view.contracts = {k: sorted(v, key=lambda c: c.valid_from) for k, v in contracts.items()}
        view.by_retailer = {k: sorted(v) for k, v in by_retailer.items()}
        tenancies: dict[str, list[Tenancy]] = defaultdict(list)
        for r in _rows(registry, "tenancies"):
            tenancies[str(r["sp_id"])].append(Tenancy(str(r["sp_id"]), str(r["customer_id"]),
                                                      r["move_in"], r["move_out"]))
        view.tenancies = {k: sorted(v, key=lambda t: t.move_in) for k, v in tenancies.items()}
        view.retailers = {str(r["retailer_id"]): r["name"] for r in _rows(registry, "retailers")}
        view.retailer_groups = [(str(r["retailer_id"]), str(r["bg_id"]), r["valid_from"],
                                 r["valid_to"]) for r in _rows(registry, "retailer_groups")]
        view.companies = {str(r["company_id"]): str(r["kind"])
                          for r in _rows(registry, "utility_companies")}
        by_company: dict[str, list[int]] = defaultdict(list)
        for r in _rows(registry, "joint_meters"):
            joint = JointMeter(int(r["meter_id"]), str(r["kind"]), int(r["host_meter_id"]),
                               r["company_id"])
            view.joint[joint.meter_id] = joint
            if joint.company_id:
                by_company[joint.company_id].append(joint.meter_id)
        view.joint_by_company = {k: sorted(v) for k, v in by_company.items()}
        subs: dict[int, list[tuple[int, str]]] = defaultdict(list)
        for r in _rows(registry, "sub_meters"):
            subs[int(r["main_meter_id"])].append((int(r["sub_meter_id"]), str(r["kind"])))
        view.sub_meters = dict(subs)
        return view

    # ------------------------------------------------------------------ questions

    def sp_of(self, meter_id: int) -> ServicePoint | None:
        meter = self.meters.get(meter_id)
        return self.service_points.get(meter.sp_id) if meter and meter.sp_id else None

    def supply_windows(self, retailer_id: str, sp_id: str) -> list[tuple[int, int | None]]:
        """When ``retailer_id`` supplied ``sp_id``: POSIX ``[start, end)`` windows."""
        return [c.window() for c in self.contracts.get(sp_id, ())
                if c.retailer_id == retailer_id]

    def tenancies_of(self, sp_id: str) -> list[Tenancy]:
        """The customers of ``sp_id`` over time: the registry's tenancies, and before the
        first of them (or where it records none) those the supply contracts imply."""
        recorded = self.tenancies.get(sp_id, [])
        derived = derived_tenancies(sp_id, self.contracts.get(sp_id, []))
        if not recorded:
            return derived
        first = recorded[0].move_in
        before = [Tenancy(t.sp_id, t.customer_id, t.move_in,
                          first if t.move_out is None else min(t.move_out, first), True)
                  for t in derived if t.move_in < first]
        return before + recorded

    def tenancy_on(self, sp_id: str, day: date) -> Tenancy | None:
        return next((t for t in self.tenancies_of(sp_id) if t.covers(day)), None)

    def tenancy_of(self, sp_id: str, customer_id: str) -> Tenancy | None:
        """The customer's (latest) tenancy at ``sp_id``."""
        found = [t for t in self.tenancies_of(sp_id) if t.customer_id == customer_id]
        return found[-1] if found else None

    def retailer_on(self, sp_id: str, day: date) -> str | None:
        for contract in self.contracts.get(sp_id, ()):
            if contract.covers(day):
                return contract.retailer_id
        return None

    def groups_of(self, retailer_id: str, day: date) -> list[str]:
        return sorted({bg for r, bg, a, b in self.retailer_groups
                       if r == retailer_id and a <= day and (b is None or day < b)})

    def meters_of_transformer(self, transformer_id: int) -> list[int]:
        return [m for sp in self.transformer_sps.get(transformer_id, ())
                for m in self.service_points[sp].meters]
