"""Every route of the application, collected here for the app factory."""

from typing import Any

from referral.web.controllers import (
    access_reports,
    admin,
    agency,
    api,
    audit,
    auth,
    breakglass,
    cases,
    changes,
    linkage,
    meetings,
    networks,
    notifications,
    operations,
    provider,
    referrer,
    register,
    search,
    second_factor,
    sso,
    statistics,
    subjects,
    summons,
    transfers,
    webhooks,
)

# HTML pages: not part of the OpenAPI schema.
PAGE_ROUTES: list[Any] = [
    *auth.ROUTES,
    *second_factor.ROUTES,
    *referrer.ROUTES,
    *cases.ROUTES,
    *search.ROUTES,
    *meetings.ROUTES,
    *summons.ROUTES,
    *provider.ROUTES,
    *agency.ROUTES,
    *notifications.ROUTES,
    *audit.ROUTES,
    *access_reports.ROUTES,
    *breakglass.ROUTES,
    *register.ROUTES,
    *subjects.ROUTES,
    *admin.ROUTES,
    *changes.ROUTES,
    *webhooks.ROUTES,
    *operations.ROUTES,
    *sso.ROUTES,
    *transfers.ROUTES,
    *linkage.ROUTES,
    *networks.ROUTES,
    *statistics.ROUTES,
]
# The JSON API under /api/, documented at /schema.
API_ROUTES: list[Any] = [*api.ROUTES]
