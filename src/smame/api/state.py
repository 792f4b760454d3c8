"""Everything one API instance holds: stores, services, clocks (SPEC S7, S14).

The access state is embedded (SQLite and key files in the state directory) unless the
config names a PostgreSQL ``state_url``: then the access database, the rate-limit buckets,
the token signing key and the registry the API reads are there, shared by every API
process naming it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from smame.api.audit import AuditLog
from smame.api.clients import ClientStore
from smame.api.commands import CommandService
from smame.api.config import ApiConfig
from smame.api.consents import ConsentStore
from smame.api.data import DataService
from smame.api.db import AccessDb, PostgresAccessDb, open_access_db
from smame.api.policy import Policy
from smame.api.ratelimit import RateLimiter, SqlBuckets
from smame.api.tokens import TokenIssuer, load_or_create_key
from smame.clock import Clock, WallClock, jst_day
from smame.mdms import Mdms
from smame.store.registry import Registry

__all__ = ["ApiState", "open_access"]

ACCESS_DB = "access.db"
SIGNING_KEY = "signing.key"
AUDIT_LOG = "audit.log"
AUDIT_KEY = "audit.key"
CHECKPOINT_KEY = "checkpoint.key"


def open_access(state_dir: Path, clock: Clock | None = None, secret_cost: int = 2**14,
                state_url: str | None = None) -> tuple[AccessDb, ClientStore, ConsentStore]:
    """The access database with its client and consent stores (for the CLI, too): in
    PostgreSQL at ``state_url`` if given, else SQLite in ``state_dir``."""
    clock = clock or WallClock()
    db = open_access_db(state_dir, state_url, ACCESS_DB)
    return db, ClientStore(db, clock, secret_cost), ConsentStore(db, clock)


def _signing_key(db: AccessDb, state_dir: Path) -> bytes:
    """The token key: one for all processes of a shared state, else the state's key file."""
    if isinstance(db, PostgresAccessDb):
        return db.shared_key("token-signing")
    return load_or_create_key(state_dir / SIGNING_KEY)


@dataclass
class ApiState:
    config: ApiConfig
    clock: Clock  # security time: tokens, consents, rate limits, audit
    data_clock: Clock  # meter time: "now" of the data, reservations
    mdms: Mdms
    db: AccessDb
    clients: ClientStore
    consents: ConsentStore
    tokens: TokenIssuer
    audit: AuditLog
    limiter: RateLimiter
    data: DataService
    policy: Policy
    commands: CommandService
    owns_mdms: bool = False
    shared_registry: Registry | None = None  # the state database's, read instead of the MDMS's

    @classmethod
    def open(cls, config: ApiConfig, mdms: Mdms | None = None, clock: Clock | None = None,
             data_clock: Clock | None = None, headend=None) -> ApiState:
        clock = clock or WallClock()
        owns = mdms is None
        mdms = mdms or Mdms(config.data_dir, clock=data_clock)  # its VEE runs on meter time
        data_clock = data_clock or mdms.clock
        state_dir = config.state
        state_dir.mkdir(parents=True, exist_ok=True)
        db, clients, consents = open_access(state_dir, clock, config.secret_cost,
                                            config.state_url)
        shared_registry = None
        if config.state_url is not None and owns:
            shared_registry = mdms.registry = Registry.postgres(config.state_url)
        buckets = SqlBuckets(db) if isinstance(db, PostgresAccessDb) else None
        data = DataService(mdms, data_clock, config.cache_blocks, headend,
                           config.registry_refresh_s)
        return cls(
            config=config, clock=clock, data_clock=data_clock, mdms=mdms, db=db,
            clients=clients, consents=consents,
            tokens=TokenIssuer(_signing_key(db, state_dir), clock, config.token_ttl_s),
            audit=AuditLog(state_dir / AUDIT_LOG, state_dir / AUDIT_KEY, clock,
                           config.audit_sync, state_dir / CHECKPOINT_KEY,
                           config.audit_checkpoint_s),
            limiter=RateLimiter(clock, config.rate_limits, buckets), data=data,
            policy=Policy(lambda: data.view, consents, lambda: jst_day(data_clock.time())),
            commands=CommandService(db, clock, data_clock, headend, config.mass_command_meters,
                                    config.approval_ttl_s, config.operator_window_meters,
                                    config.operator_window_s),
            owns_mdms=owns, shared_registry=shared_registry)

    def attach_headend(self, headend) -> None:
        """Connect a live head-end: commands reach meters, its events become visible."""
        self.data.headend = headend
        self.commands.attach(headend)

    def close(self) -> None:
        self.audit.close()
        self.db.close()
        if self.shared_registry is not None:
            self.shared_registry.close()
        if self.owns_mdms:
            self.mdms.close()
