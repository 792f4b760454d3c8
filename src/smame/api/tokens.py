"""Short-lived, signed, scoped access tokens (OAuth2 client credentials, SPEC S14).

Tokens are JWTs signed with HMAC-SHA256 under a key kept beside the access database
(mode 0600). They carry the client, its role and party, the granted scopes and a lifetime
of minutes. Expiry is checked against the API's security clock, not the data clock, so
an accelerated demo clock cannot age tokens.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

import jwt

from smame.api.clients import Client
from smame.api.roles import Role, Scope, role_scopes
from smame.clock import Clock
from smame.store.private import check_key_file, create_private_file, private_dir

__all__ = ["Claims", "TokenError", "TokenIssuer", "load_or_create_key", "parse_scopes"]

ISSUER = "smame"
AUDIENCE = "smame-api"
_ALGORITHM = "HS256"
_REQUIRED = ["exp", "iat", "nbf", "sub", "aud", "iss", "jti", "scope", "role"]


class TokenError(Exception):
    """A token that cannot be accepted; the message says why (for the 401 answer)."""


@dataclass(frozen=True)
class Claims:
    client_id: str
    role: Role
    party: str | None
    scopes: frozenset[Scope]
    issued_at: int
    expires_at: int
    token_id: str


def load_or_create_key(path: Path) -> bytes:
    """The key at ``path``; created (32 random bytes, mode 0600, its directory 0700) if
    missing. A key file others may read is refused (:class:`PrivateFileError`)."""
    private_dir(path.parent)
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        key = secrets.token_bytes(32)
        create_private_file(path, key)
    check_key_file(path)
    if len(key) < 32:
        raise ValueError(f"{path}: a signing key needs at least 32 bytes")
    return key


def parse_scopes(text: str | None, role: Role) -> frozenset[Scope]:
    """Scopes asked for in a token request, checked against the role; None: all of them."""
    allowed = role_scopes(role)
    if text is None or not text.strip():
        return allowed
    asked: set[Scope] = set()
    for word in text.split():
        try:
            scope = Scope(word)
        except ValueError:
            raise TokenError(f"unknown scope {word!r}") from None
        if scope not in allowed:
            raise TokenError(f"scope {word!r} is not available to role {role}")
        asked.add(scope)
    return frozenset(asked)


class TokenIssuer:
    """Issues and verifies tokens; verified tokens are remembered until they expire."""

    def __init__(self, key: bytes, clock: Clock, ttl_s: int = 300) -> None:
        if ttl_s <= 0:
            raise ValueError("token lifetime must be > 0")
        self._key = key
        self.clock = clock
        self.ttl_s = ttl_s
        self._verified: dict[str, Claims] = {}
        self._lock = threading.Lock()

    def issue(self, client: Client, scopes: frozenset[Scope], ttl_s: int | None = None
              ) -> tuple[str, Claims]:
        now = int(self.clock.time())
        ttl = self.ttl_s if ttl_s is None else ttl_s
        claims = Claims(client.client_id, client.role, client.party, scopes, now, now + ttl,
                        secrets.token_hex(12))
        payload = {
            "iss": ISSUER, "aud": AUDIENCE, "sub": client.client_id, "iat": now, "nbf": now,
            "exp": now + ttl, "jti": claims.token_id, "role": str(client.role),
            "party": client.party, "scope": " ".join(sorted(str(s) for s in scopes)),
        }
        return jwt.encode(payload, self._key, algorithm=_ALGORITHM), claims

    def verify(self, token: str) -> Claims:
        """The claims of a valid, unexpired token; :class:`TokenError` otherwise."""
        now = self.clock.time()
        with self._lock:
            claims = self._verified.get(token)
        if claims is None:
            claims = self._decode(token)
            with self._lock:
                if len(self._verified) > 50_000:
                    self._verified = {t: c for t, c in self._verified.items()
                                      if c.expires_at > now}
                self._verified[token] = claims
        if now >= claims.expires_at:
            raise TokenError("the token has expired")
        if now + 60 < claims.issued_at:
            raise TokenError("the token is not valid yet")
        return claims

    def _decode(self, token: str) -> Claims:
        if len(token) > 4096:
            raise TokenError("the token is malformed")
        try:
            payload = jwt.decode(
                token, self._key, algorithms=[_ALGORITHM], audience=AUDIENCE, issuer=ISSUER,
                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False,
                         "require": _REQUIRED})
            role = Role(payload["role"])
            scopes = frozenset(Scope(s) for s in str(payload["scope"]).split())
            party = payload.get("party")
            return Claims(str(payload["sub"]), role, None if party is None else str(party),
                          scopes, int(payload["iat"]), int(payload["exp"]), str(payload["jti"]))
        except jwt.InvalidSignatureError:
            raise TokenError("the token signature is not valid") from None
        except jwt.PyJWTError as exc:
            raise TokenError(f"the token is not valid: {exc}") from None
        except (ValueError, TypeError, KeyError):
            raise TokenError("the token claims are not valid") from None
