"""Settings of the data-provision API (SPEC S7, S9, S14)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from smame.api.db import is_state_url

__all__ = ["ApiConfig", "RateLimit"]


@dataclass(frozen=True)
class RateLimit:
    """A token bucket: ``rate`` requests per second on average, bursts up to ``burst``."""

    rate: float
    burst: float

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError(f"a rate limit needs rate > 0 and burst ≥ 1, got {self}")


@dataclass(frozen=True)
class ApiConfig:
    """Where the API keeps its state and how strict it is.

    ``data_dir`` is the MDMS data directory; the API keeps clients, consents, commands,
    the signing key and the audit log under ``data_dir / "api"`` unless ``state_dir`` says
    otherwise. With ``state_url`` (``postgresql://...``) clients, consents, commands, the
    rate-limit buckets and the signing key are in that PostgreSQL database instead, shared
    by every API process naming it, and so is the registry the API reads when it opens the
    MDMS itself; the audit log stays in the state directory of each process.
    """

    data_dir: Path
    state_dir: Path | None = None
    state_url: str | None = None
    token_ttl_s: int = 300  # API tokens: five minutes (S14)
    console_ttl_s: int = 1800  # console sessions: thirty minutes
    mass_command_meters: int = 100  # above this many meters a command needs a second operator
    approval_ttl_s: int = 3600  # a pending mass command expires after this long
    # supply-changing meter-commands one operator may send without approval per window
    operator_window_meters: int = 100
    operator_window_s: float = 3600.0  # the rolling window of that count
    max_meters_per_command: int = 100_000
    rate_limits: dict[str, RateLimit] = field(default_factory=lambda: {
        "read": RateLimit(200.0, 400.0),  # every data access, per client
        "export": RateLimit(0.2, 3.0),  # bulk exports, per client
        "instantaneous": RateLimit(1.0, 5.0),  # on-demand meter reads, per client
        "command": RateLimit(0.5, 10.0),  # any command, per client
        "dangerous": RateLimit(0.1, 3.0),  # commands that change a meter's supply or limit
        "token": RateLimit(0.5, 10.0),  # token requests, per client id
    })
    secret_cost: int = 2**14  # scrypt N for client secrets
    cache_blocks: int = 16  # day blocks of the read model kept in memory
    refresh_interval_s: float = 1.0  # how often the read model looks for new MDMS versions
    registry_refresh_s: float = 300.0  # how often the registry snapshot is retaken
    statistics_min_meters: int = 10  # k: no statistical group of fewer meters (S6)
    statistics_dominance: float = 0.5  # nor one where a meter has more than this share
    audit_sync: bool = False  # fsync the audit log after every entry
    audit_checkpoint_s: float | None = 3600.0  # a signed checkpoint per hour (None: none)
    max_range_days: int = 31  # longest time range of one readings request
    max_export_days: int = 31

    def __post_init__(self) -> None:
        if self.state_url is not None and not is_state_url(self.state_url):
            raise ValueError(f"state {self.state_url!r} is not a PostgreSQL URL "
                             "(postgresql://user@host:port/database)")

    @property
    def state(self) -> Path:
        return self.state_dir if self.state_dir is not None else self.data_dir / "api"

    def limit(self, name: str) -> RateLimit:
        return self.rate_limits[name]
