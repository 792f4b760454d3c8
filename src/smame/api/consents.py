"""Customer consents to third-party data access (SPEC S6).

A consent records that one **customer** — the holder of the supply at a service point
during one tenancy (``smame.api.registry_view.Tenancy``) — lets one recipient (an
aggregator, an energy-management operator or the data association itself) see given
categories of its data, for a stated purpose, for data within ``[data_from, data_to)``
(JST days), until it expires, is revoked, or the customer moves out. The certified data
association (認定協会, the body of the 2022 Electricity Business Act amendment) confirms
the customer's consent and records it (``confirmed_by``); a revocation takes effect at
once: every request checks the current consents.

A consent never reaches outside its customer's tenancy: ``data_from`` before the move-in
is refused when the consent is recorded, and at use the data period is clipped to the
tenancy, so neither the previous nor the next occupant's data is ever covered.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from datetime import date

from smame.api.db import AccessDb
from smame.api.registry_view import Tenancy
from smame.api.roles import CONSENT_CATEGORIES
from smame.clock import Clock
from smame.store.registry import RegistryError, check_service_point

__all__ = ["Consent", "ConsentError", "ConsentStore", "check_within_tenancy"]


class ConsentError(ValueError):
    """A consent cannot be recorded or changed as asked."""


@dataclass(frozen=True)
class Consent:
    consent_id: str
    sp_id: str
    grantee: str
    categories: frozenset[str]
    purpose: str
    data_from: date
    data_to: date | None
    expires_at: float | None
    customer_ref: str | None
    granted_at: float
    granted_by: str
    revoked_at: float | None = None
    revoked_by: str | None = None
    customer_id: str | None = None  # the tenant who consented; None: bound by grant date
    confirmed_by: str | None = None  # the data association that confirmed the consent

    def effective(self, now: float) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)

    def public(self, now: float) -> dict:
        return {
            "consent_id": self.consent_id, "sp_id": self.sp_id, "grantee": self.grantee,
            "categories": sorted(self.categories), "purpose": self.purpose,
            "data_from": self.data_from.isoformat(),
            "data_to": self.data_to.isoformat() if self.data_to else None,
            "expires_at": self.expires_at, "customer_ref": self.customer_ref,
            "granted_at": self.granted_at, "granted_by": self.granted_by,
            "revoked_at": self.revoked_at, "revoked_by": self.revoked_by,
            "effective": self.effective(now), "recipient": self.grantee,
            "customer_id": self.customer_id, "confirmed_by": self.confirmed_by,
        }


def check_within_tenancy(tenancy: Tenancy, data_from: date, data_to: date | None) -> None:
    """Refuse a data period reaching outside the customer's tenancy: a customer consents
    only to the data of their own supply period, never a previous or later occupant's."""
    if data_from < tenancy.move_in:
        raise ConsentError(f"data_from {data_from} is before this customer's tenancy began "
                           f"({tenancy.move_in}): a customer consents only to the data of "
                           "their own supply period")
    if tenancy.move_out is not None and (data_to is None or data_to > tenancy.move_out):
        raise ConsentError(f"the data period reaches past this customer's move-out "
                           f"({tenancy.move_out})")


class ConsentStore:
    """Consents in the access database, cached until any process changes them."""

    def __init__(self, db: AccessDb, clock: Clock) -> None:
        self.db = db
        self.clock = clock
        self._by_grantee: dict[str, dict[str, list[Consent]]] = {}
        self._generation: tuple[int, int] | None = None
        self._lock = threading.Lock()

    def grant(self, sp_id: str, grantee: str, categories: list[str] | frozenset[str],
              purpose: str, data_from: date, data_to: date | None = None,
              expires_at: float | None = None, customer_ref: str | None = None,
              granted_by: str = "cli", tenancy: Tenancy | None = None,
              confirmed_by: str | None = None) -> Consent:
        """Record a consent. With ``tenancy`` (the customer's, from the registry) the
        consent is bound to that customer and may not reach before the move-in or after the
        move-out; without, it is bound at use to the tenancy in force on the grant date."""
        try:
            check_service_point(sp_id)
        except RegistryError as exc:
            raise ConsentError(str(exc)) from None
        cats = frozenset(categories)
        unknown = sorted(cats - set(CONSENT_CATEGORIES))
        if not cats or unknown:
            raise ConsentError(f"categories must be a non-empty subset of "
                               f"{', '.join(CONSENT_CATEGORIES)}; unknown: {unknown}")
        if not grantee or len(grantee) > 64:
            raise ConsentError("the grantee party id must be 1–64 characters")
        purpose = (purpose or "").strip()
        if not purpose or len(purpose) > 500:
            raise ConsentError("a consent needs a purpose of 1–500 characters")
        if data_to is not None and data_to <= data_from:
            raise ConsentError("data_to must be after data_from")
        if expires_at is not None and expires_at <= self.clock.time():
            raise ConsentError("expires_at must be in the future")
        if tenancy is not None:
            check_within_tenancy(tenancy, data_from, data_to)
        consent = Consent(f"cns_{secrets.token_hex(8)}", sp_id, grantee, cats, purpose,
                          data_from, data_to, expires_at, customer_ref, self.clock.time(),
                          granted_by, customer_id=tenancy.customer_id if tenancy else None,
                          confirmed_by=confirmed_by)
        self.db.execute(
            "INSERT INTO consents (consent_id, sp_id, grantee, categories, purpose, data_from,"
            " data_to, expires_at, customer_ref, granted_at, granted_by, customer_id,"
            " confirmed_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [consent.consent_id, sp_id, grantee, " ".join(sorted(cats)), purpose,
             data_from.isoformat(), data_to.isoformat() if data_to else None, expires_at,
             customer_ref, consent.granted_at, granted_by, consent.customer_id,
             confirmed_by])
        return consent

    def revoke(self, consent_id: str, revoked_by: str = "cli") -> Consent:
        self.db.execute(
            "UPDATE consents SET revoked_at = ?, revoked_by = ? "
            "WHERE consent_id = ? AND revoked_at IS NULL",
            [self.clock.time(), revoked_by, consent_id])
        consent = self.get(consent_id)
        if consent is None:
            raise ConsentError(f"no consent {consent_id!r}")
        return consent

    def get(self, consent_id: str) -> Consent | None:
        rows = self.db.query("SELECT * FROM consents WHERE consent_id = ?", [consent_id])
        return self._row(rows[0]) if rows else None

    def list(self, grantee: str | None = None, sp_id: str | None = None) -> list[Consent]:
        sql, params = "SELECT * FROM consents WHERE 1 = 1", []
        if grantee is not None:
            sql += " AND grantee = ?"
            params.append(grantee)
        if sp_id is not None:
            sql += " AND sp_id = ?"
            params.append(sp_id)
        return [self._row(r) for r in self.db.query(sql + " ORDER BY granted_at", params)]

    def effective(self, grantee: str, sp_id: str | None = None) -> list[Consent]:
        """Consents in force now for ``grantee`` (at one service point, or all)."""
        with self._lock:
            generation = self.db.generation()
            if generation != self._generation:
                index: dict[str, dict[str, list[Consent]]] = {}
                for row in self.db.query("SELECT * FROM consents WHERE revoked_at IS NULL"):
                    consent = self._row(row)
                    index.setdefault(consent.grantee, {}).setdefault(consent.sp_id, []).append(
                        consent)
                self._by_grantee, self._generation = index, generation
            mine = self._by_grantee.get(grantee, {})
        now = self.clock.time()
        found = mine.get(sp_id, []) if sp_id is not None else [
            c for items in mine.values() for c in items]
        return [c for c in found if c.effective(now)]

    @staticmethod
    def _row(row) -> Consent:
        return Consent(
            row["consent_id"], row["sp_id"], row["grantee"],
            frozenset(row["categories"].split()), row["purpose"],
            date.fromisoformat(row["data_from"]),
            date.fromisoformat(row["data_to"]) if row["data_to"] else None, row["expires_at"],
            row["customer_ref"], row["granted_at"], row["granted_by"], row["revoked_at"],
            row["revoked_by"], row["customer_id"], row["confirmed_by"])
