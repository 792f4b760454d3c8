"""Who may see which meter's data, for which period, with how many digits (SPEC S4, S6,
S13, S15).

The rules, in the order they are applied:

1. A meter the caller may not see at all is **not found** — the same answer as a meter
   that does not exist, so nobody can enumerate another operator's customers.
2. A kind of data the caller's role never gets (voltage for a retailer, say) is
   **forbidden**.
3. What remains is a :class:`Grant`: the time windows the caller may see (a retailer's
   supply periods, a consent's data period) and the digits (8 for the distribution
   operator, 6 for everyone else, S4).

An opted-out service point (S15) has no communicating meter: asking for its interval data
is answered as such (:class:`OptedOutError`), never with data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from smame.api.consents import Consent, ConsentStore
from smame.api.registry_view import MeterInfo, RegistryView, ServicePoint, Tenancy
from smame.api.roles import THIRD_PARTY_ROLES, Category, Role, Scope
from smame.clock import jst_day
from smame.store.layout import day_start

__all__ = ["ForbiddenError", "Grant", "NotFoundError", "OptedOutError", "Policy", "Principal"]

Window = tuple[int, int | None]


class NotFoundError(Exception):
    """No such resource — or none the caller may know of (the answer is the same)."""


class ForbiddenError(Exception):
    """The caller's role may not do this."""


class OptedOutError(Exception):
    """The service point opted out of the communicating meter (S15): no interval data."""


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of one request."""

    client_id: str
    role: Role
    party: str | None
    scopes: frozenset[Scope]
    token_id: str
    via: str = "bearer"  # bearer | console


@dataclass(frozen=True)
class Grant:
    """What a caller may see of one meter."""

    meter: MeterInfo
    sp: ServicePoint | None
    digits: int  # 8 (as measured) or 6 (retail provision, S4)
    windows: tuple[Window, ...] | None  # allowed data periods, POSIX [start, end); None: all
    basis: str  # operator | supply | consent | company
    consent_ids: tuple[str, ...] = ()

    def audit(self) -> dict:
        detail: dict = {"meter_id": self.meter.meter_id, "digits": self.digits,
                        "basis": self.basis}
        if self.consent_ids:
            detail["consents"] = list(self.consent_ids)
        return detail


RETAILER_CATEGORIES = frozenset({Category.ENERGY, Category.ENERGY_5MIN, Category.REGISTERS,
                                 Category.EVENTS, Category.INSTANTANEOUS})
JOINT_CATEGORIES = frozenset({Category.REGISTERS})


def _consent_window(consent: Consent, tenancy: Tenancy) -> Window:
    """The consent's data period clipped to its customer's tenancy (POSIX ``[lo, hi)``)."""
    lo = max(consent.data_from, tenancy.move_in)
    ends = [d for d in (consent.data_to, tenancy.move_out) if d is not None]
    hi = min(ends) if ends else None
    return day_start(lo), (day_start(hi) if hi is not None else None)


class Policy:
    """Access decisions over a registry snapshot and the consents in force."""

    def __init__(self, view, consents: ConsentStore,
                 today: Callable[[], date] | None = None) -> None:
        self._view = view  # a callable returning the current RegistryView
        self.consents = consents
        # the business day (JST) of the metering system: tenancies end on it
        self._today = today or (lambda: jst_day(consents.clock.time()))

    def consent_tenancy(self, consent: Consent) -> Tenancy | None:
        """The tenancy a consent belongs to: its customer's, or (for a consent recorded
        without one) the tenancy in force on the day it was granted."""
        view = self.view
        if consent.customer_id is not None:
            return view.tenancy_of(consent.sp_id, consent.customer_id)
        return view.tenancy_on(consent.sp_id, jst_day(consent.granted_at))

    def consents_in_force(self, who: Principal, sp_id: str | None = None
                          ) -> list[tuple[Consent, Tenancy]]:
        """The caller's consents in force with their tenancies: a consent ends when its
        customer moves out, so it never reaches the next occupant."""
        today = self._today()
        found = []
        for consent in self.consents.effective(who.party or "", sp_id):
            tenancy = self.consent_tenancy(consent)
            if tenancy is not None and (tenancy.move_out is None or today < tenancy.move_out):
                found.append((consent, tenancy))
        return found

    def current_tenancy(self, sp_id: str) -> Tenancy | None:
        """Who holds the supply at ``sp_id`` today (None: nobody, a vacant service point)."""
        return self.view.tenancy_on(sp_id, self._today())

    @property
    def view(self) -> RegistryView:
        return self._view()

    # ------------------------------------------------------------------ one meter

    def meter(self, who: Principal, meter_id: int, category: Category | None) -> Grant:
        """The grant for ``meter_id`` and a kind of data (None: the meter's description)."""
        view = self.view
        joint = view.joint.get(meter_id)
        if joint is not None:
            return self._joint(who, meter_id, joint.kind, joint.company_id, category)
        meter = view.meters.get(meter_id)
        if meter is None or who.role in (Role.GAS, Role.WATER):
            raise NotFoundError
        sp = view.service_points.get(meter.sp_id or "")
        grant = self._electric(who, meter, sp, category)
        if category is not None and not meter.communicating:
            raise OptedOutError
        return grant

    def _joint(self, who: Principal, meter_id: int, kind: str, company: str | None,
               category: Category | None) -> Grant:
        view = self.view
        info = view.meters.get(meter_id) or MeterInfo(meter_id, None, kind, -3, None)
        if who.role is Role.DISTRIBUTION:
            grant = Grant(info, None, 8, None, "operator")
        elif who.role.value == kind and who.party is not None and who.party == company:
            grant = Grant(info, None, 8, None, "company")
        else:
            raise NotFoundError
        if category is not None and category not in JOINT_CATEGORIES:
            raise ForbiddenError(f"a {kind} meter has register readings only")
        return grant

    def _electric(self, who: Principal, meter: MeterInfo, sp: ServicePoint | None,
                  category: Category | None) -> Grant:
        if who.role is Role.DISTRIBUTION:
            return Grant(meter, sp, 8, None, "operator")
        if sp is None:
            raise NotFoundError
        if who.role is Role.RETAILER:
            windows = self.view.supply_windows(who.party or "", sp.sp_id)
            if not windows:
                raise NotFoundError
            if category is not None and category not in RETAILER_CATEGORIES:
                raise ForbiddenError(f"{category} data is not provided to retailers")
            return Grant(meter, sp, 6, tuple(windows), "supply")
        if who.role in THIRD_PARTY_ROLES:
            consents = self.consents_in_force(who, sp.sp_id)
            if not consents:
                raise NotFoundError
            if category is not None:
                consents = [(c, t) for c, t in consents if category in c.categories]
                if not consents:
                    raise ForbiddenError(f"no consent in force covers {category} data of this "
                                    "service point")
            return Grant(meter, sp, 6, tuple(_consent_window(c, t) for c, t in consents),
                         "consent", tuple(c.consent_id for c, _ in consents))
        raise ForbiddenError(f"role {who.role} has no access to meter data")

    def service_point(self, who: Principal, sp_id: str) -> tuple[ServicePoint, Grant | None]:
        """A service point the caller may know of, and the grant on its current meter."""
        view = self.view
        sp = view.service_points.get(sp_id)
        if sp is None:
            raise NotFoundError
        if who.role is Role.DISTRIBUTION:
            pass
        elif who.role is Role.RETAILER:
            if not view.supply_windows(who.party or "", sp_id):
                raise NotFoundError
        elif who.role in THIRD_PARTY_ROLES:
            if not self.consents_in_force(who, sp_id):
                raise NotFoundError
        elif who.role in (Role.GAS, Role.WATER):
            raise NotFoundError
        else:
            raise ForbiddenError(f"role {who.role} has no access to service points")
        grant = None
        if sp.meters:
            grant = self._electric(who, view.meters[sp.meters[-1]], sp, None)
        return sp, grant

    # ------------------------------------------------------------------ listings

    def visible_service_points(self, who: Principal) -> list[str]:
        view = self.view
        if who.role is Role.DISTRIBUTION:
            return sorted(view.service_points)
        if who.role is Role.RETAILER:
            return list(view.by_retailer.get(who.party or "", ()))
        if who.role in THIRD_PARTY_ROLES:
            return sorted({c.sp_id for c, _ in self.consents_in_force(who)
                           if c.sp_id in view.service_points})
        if who.role in (Role.GAS, Role.WATER):
            return []
        raise ForbiddenError(f"role {who.role} has no access to service points")

    def visible_meters(self, who: Principal) -> list[int]:
        """Meter ids the caller may know of (electric, gas or water)."""
        view = self.view
        if who.role in (Role.GAS, Role.WATER):
            return [m for m in view.joint_by_company.get(who.party or "", ())
                    if view.joint[m].kind == who.role.value]
        if who.role is Role.DISTRIBUTION:
            return sorted({*view.meters, *view.joint})
        return sorted({m for sp_id in self.visible_service_points(who)
                       for m in view.service_points[sp_id].meters})

    def supplied_on(self, who: Principal, day: date) -> list[int]:
        """Meters a retailer supplies on ``day`` (for bulk exports)."""
        view = self.view
        return [m for sp_id in view.by_retailer.get(who.party or "", ())
                if view.retailer_on(sp_id, day) == who.party
                for m in view.service_points[sp_id].meters]
