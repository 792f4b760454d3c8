"""The data-provision API (SPEC S2, S4, S6–S9, S14, S15): REST under ``/v1`` with OAuth2
client credentials, roles, consents, the two-person rule for mass commands and a
hash-chained audit log; the operator console is served beside it (``smame.web``).

* :func:`create_app` — the FastAPI application over a data directory;
* :class:`ApiConfig` — its settings;
* :func:`smame.api.live.serve_system` — the API and console on a running system (the demo's).
"""

from smame.api.app import create_app
from smame.api.config import ApiConfig, RateLimit
from smame.api.state import ApiState

__all__ = ["ApiConfig", "ApiState", "RateLimit", "create_app"]
