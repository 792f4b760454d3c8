"""Everything one API instance holds: stores, services, clocks (SPEC S7, S14)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from smame.api.audit import AuditLog
from smame.api.clients import ClientStore
from smame.api.commands import CommandService
from smame.api.config import ApiConfig
from smame.api.consents import ConsentStore
from smame.api.data import DataService
from smame.api.db import AccessDb
from smame.api.policy import Policy
from smame.api.ratelimit import RateLimiter
from smame.api.tokens import TokenIssuer, load_or_create_key
from smame.clock import Clock, WallClock, jst_day
from smame.mdms import Mdms

__all__ = ["ApiState", "open_access"]

ACCESS_DB = "access.db"
SIGNING_KEY = "signing.key"
AUDIT_LOG = "audit.log"
AUDIT_KEY = "audit.key"
CHECKPOINT_KEY = "checkpoint.key"


def open_access(state_dir: Path, clock: Clock | None = None, secret_cost: int = 2**14
                ) -> tuple[AccessDb, ClientStore, ConsentStore]:
    """The access database with its client and consent stores (for the CLI, too)."""
    clock = clock or WallClock()
    db = AccessDb(state_dir / ACCESS_DB)
    return db, ClientStore(db, clock, secret_cost), ConsentStore(db, clock)


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

    @classmethod
    def open(cls, config: ApiConfig, mdms: Mdms | None = None, clock: Clock | None = None,
             data_clock: Clock | None = None, headend=None) -> ApiState:
        clock = clock or WallClock()
        owns = mdms is None
        mdms = mdms or Mdms(config.data_dir)
        data_clock = data_clock or mdms.clock
        state_dir = config.state
        state_dir.mkdir(parents=True, exist_ok=True)
        db, clients, consents = open_access(state_dir, clock, config.secret_cost)
        data = DataService(mdms, data_clock, config.cache_blocks, headend,
                           config.registry_refresh_s)
        return cls(
            config=config, clock=clock, data_clock=data_clock, mdms=mdms, db=db,
            clients=clients, consents=consents,
            tokens=TokenIssuer(load_or_create_key(state_dir / SIGNING_KEY), clock,
                               config.token_ttl_s),
            audit=AuditLog(state_dir / AUDIT_LOG, state_dir / AUDIT_KEY, clock,
                           config.audit_sync, state_dir / CHECKPOINT_KEY,
                           config.audit_checkpoint_s),
            limiter=RateLimiter(clock, config.rate_limits), data=data,
            policy=Policy(lambda: data.view, consents, lambda: jst_day(data_clock.time())),
            commands=CommandService(db, clock, data_clock, headend, config.mass_command_meters,
                                    config.approval_ttl_s, config.operator_window_meters,
                                    config.operator_window_s),
            owns_mdms=owns)

    def attach_headend(self, headend) -> None:
        """Connect a live head-end: commands reach meters, its events become visible."""
        self.data.headend = headend
        self.commands.attach(headend)

    def close(self) -> None:
        self.audit.close()
        self.db.close()
        if self.owns_mdms:
            self.mdms.close()
