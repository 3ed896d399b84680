"""The JSON API under /api/ (handlers in referral.web.api), collected for the app."""

from typing import Any

from referral.web.api import breakglass, cases, casework, linkage, meetings, statistics, transfers

ROUTES: list[Any] = [
    *cases.ROUTES,
    *casework.ROUTES,
    *meetings.ROUTES,
    *breakglass.ROUTES,
    *linkage.ROUTES,
    *transfers.ROUTES,
    *statistics.ROUTES,
]
