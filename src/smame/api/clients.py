"""API clients: OAuth2 client credentials, one role each (SPEC S6, S14).

A client is an operator's credential: an id, a secret shown once, a role and the party
(retailer, company or organisation id) it acts for. Secrets are kept only as scrypt
hashes. A revoked client can no longer get tokens, and its tokens stop working at once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass

from smame.api.db import AccessDb
from smame.api.roles import PARTY_ROLES, Role
from smame.clock import Clock

__all__ = ["Client", "ClientError", "ClientStore", "hash_secret", "verify_secret"]

_PARTY_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


class ClientError(ValueError):
    """A client cannot be created or changed as asked."""


@dataclass(frozen=True)
class Client:
    client_id: str
    name: str
    role: Role
    party: str | None
    created_at: float
    revoked_at: float | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def public(self) -> dict:
        return {"client_id": self.client_id, "name": self.name, "role": str(self.role),
                "party": self.party, "created_at": self.created_at,
                "revoked_at": self.revoked_at, "active": self.active}


def hash_secret(secret: str, cost: int = 2**14) -> str:
    """scrypt hash of a client secret, with its salt and cost: ``scrypt$N$salt$hash``."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=cost, r=8, p=1, dklen=32)
    return f"scrypt${cost}${salt.hex()}${digest.hex()}"


def verify_secret(secret: str, stored: str) -> bool:
    """Whether ``secret`` matches a :func:`hash_secret` value (constant time)."""
    try:
        scheme, cost, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        computed = hashlib.scrypt(secret.encode(), salt=bytes.fromhex(salt), n=int(cost), r=8,
                                  p=1, dklen=32)
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(computed.hex(), digest)


_DUMMY_HASH = hash_secret("not a secret", 2**10)


class ClientStore:
    """Clients in the access database, cached in memory until any process changes them."""

    def __init__(self, db: AccessDb, clock: Clock, secret_cost: int = 2**14) -> None:
        self.db = db
        self.clock = clock
        self.secret_cost = secret_cost
        self._cache: dict[str, Client] = {}
        self._generation: tuple[int, int] | None = None
        self._lock = threading.Lock()

    def add(self, name: str, role: Role | str, party: str | None = None) -> tuple[Client, str]:
        """Create a client; returns it and its secret, which is not kept anywhere."""
        try:
            role = Role(role)
        except ValueError:
            raise ClientError(f"unknown role {role!r}; roles: "
                              f"{', '.join(r.value for r in Role)}") from None
        name = (name or "").strip()
        if not name or len(name) > 100:
            raise ClientError("a client needs a name of 1–100 characters")
        if role in PARTY_ROLES and not party:
            raise ClientError(f"a {role} client must name its party (--party): the retailer, "
                              "company or organisation id it acts for")
        if party is not None and (not party or len(party) > 64 or set(party) - _PARTY_CHARS):
            raise ClientError(f"party {party!r} must be 1–64 letters, digits, '-', '_' or '.'")
        client = Client(f"smc_{secrets.token_hex(8)}", name, role, party, self.clock.time())
        secret = secrets.token_urlsafe(32)
        self.db.execute(
            "INSERT INTO clients (client_id, name, role, party, secret_hash, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [client.client_id, client.name, str(role), party,
             hash_secret(secret, self.secret_cost), client.created_at])
        return client, secret

    def list(self) -> list[Client]:
        return [self._row(r) for r in self.db.query(
            "SELECT * FROM clients ORDER BY created_at, client_id")]

    def revoke(self, client_id: str) -> Client:
        changed = self.db.execute(
            "UPDATE clients SET revoked_at = ? WHERE client_id = ? AND revoked_at IS NULL",
            [self.clock.time(), client_id])
        client = self.get(client_id, fresh=True)
        if client is None:
            raise ClientError(f"no client {client_id!r}")
        if not changed and client.active:
            raise ClientError(f"client {client_id!r} could not be revoked")
        return client

    def get(self, client_id: str, fresh: bool = False) -> Client | None:
        """The client with this id (revoked or not), from the cache unless it is stale."""
        with self._lock:
            generation = self.db.generation()
            if fresh or generation != self._generation:
                self._cache = {r["client_id"]: self._row(r)
                               for r in self.db.query("SELECT * FROM clients")}
                self._generation = generation
            return self._cache.get(client_id)

    def authenticate(self, client_id: str, secret: str) -> Client | None:
        """The active client these credentials belong to, or None (no hint which part)."""
        rows = self.db.query("SELECT * FROM clients WHERE client_id = ?", [client_id])
        if not rows:
            verify_secret(secret, _DUMMY_HASH)
            return None
        row = rows[0]
        if not verify_secret(secret, row["secret_hash"]) or row["revoked_at"] is not None:
            return None
        return self._row(row)

    @staticmethod
    def _row(row) -> Client:
        return Client(row["client_id"], row["name"], Role(row["role"]), row["party"],
                      row["created_at"], row["revoked_at"])
