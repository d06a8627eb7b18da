"""``GET /application/settings`` (``lib/api/settings.rb``), as far as the simulator models it.

Administrators only: ``before { authenticated_as_admin! }`` answers 401 to anonymous callers and
``403 Forbidden`` to everyone else. The answer holds the authenticated API throttle
(``throttle_authenticated_api_*``, GitLab 10.3+) from the simulator's Rack::Attack throttle
(``sim serve --rate-limit``, ``PUT /-/sim/rate_limit``), which applies to every API request; off,
it shows GitLab's defaults (7200 per 3600 s), as an instance that never enabled it does.
"""

from __future__ import annotations

from contextvars import ContextVar

from bridge.testing.sim.api import forbidden, require_user, route
from bridge.testing.sim.http import Request, Response
from bridge.testing.sim.ratelimit import RateLimiter

# The limiter of the simulator answering the current request, set by ``Simulator.handle_api``
# (handlers only get the request).
LIMITER: ContextVar[RateLimiter | None] = ContextVar("sim_limiter", default=None)
_DEFAULT_LIMIT, _DEFAULT_PERIOD = 7200, 3600  # ApplicationSetting defaults (db/structure.sql)


def application_settings(req: Request) -> Response:
    """The instance's settings: its authenticated API throttle."""
    require_user(req)
    if not req.is_admin:
        raise forbidden(req)
    limiter = LIMITER.get()
    throttle = limiter.throttle if limiter is not None else None
    return Response(
        200,
        {
            "id": 1,
            "throttle_authenticated_api_enabled": throttle is not None,
            "throttle_authenticated_api_requests_per_period": (
                throttle.limit if throttle else _DEFAULT_LIMIT
            ),
            "throttle_authenticated_api_period_in_seconds": (
                throttle.period if throttle else _DEFAULT_PERIOD
            ),
        },
    )


ROUTES = (route("GET", "/application/settings", application_settings),)
