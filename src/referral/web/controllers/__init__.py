"""Every route of the application, collected here for the app factory."""

from typing import Any

from referral.web.controllers import admin, api, audit, auth, cases, meetings, provider, referrer

ROUTES: list[Any] = [
    *auth.ROUTES,
    *referrer.ROUTES,
    *cases.ROUTES,
    *meetings.ROUTES,
    *provider.ROUTES,
    *audit.ROUTES,
    *admin.ROUTES,
    *api.ROUTES,
]
