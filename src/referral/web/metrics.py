"""Prometheus metrics for /metrics, summed over every process of `referral serve`.

Two kinds, kept apart so each costs least where it is paid:

- **Counted as requests run** (request latency by route, authorization decisions and
  the decision cache): a process counts its own. `referral serve` gives its processes a
  fresh shared directory (PROMETHEUS_MULTIPROC_DIR, prometheus-client's multiprocess
  mode, set before any worker starts), where each writes its counts into a file of its
  own; a scrape, whichever process answers it, sums every file. Without that directory
  (a test's app) the counts live in this process's registry.
- **Read from the database when scraped** (timers due and overdue, the e-mail outbox,
  queued audit entries, the audit chain head's age): the database is what every process
  shares, so any of them answers for the deployment, and a request pays nothing for them.

A request pays one histogram observation (a shared-file write of one bucket and the
sum) and a list increment per decision; the decisions reach the shared counters in one
hand-over at most every half second (docs/operations.md, Monitoring: the measured cost).
"""

import time
from collections.abc import Iterable
from typing import Any

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from referral.authz.enforcer import DecisionTally
from referral.services.operations import Backlog

CONTENT_TYPE = CONTENT_TYPE_LATEST

REQUEST_SECONDS = Histogram(
    "referral_http_request_duration_seconds",
    "Time from a request reaching the app to its last byte sent, by route template.",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
DECISIONS = Counter(
    "referral_authz_decisions",
    "Authorization decisions, by outcome and by what the decision cache did "
    "(hit, miss, or none: no rule could match, the cache was not asked).",
    ["outcome", "cache"],
)


class RecordRequests(ASGIMiddleware):
    """Times each request under its route template (`/cases/{case_id}`, never the path a
    person typed: no id, name or query string becomes a label), and now and then hands
    over the decisions the process made meanwhile."""

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        start = time.perf_counter()
        status = 500  # an exception that escapes answers 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await next_app(scope, receive, sending)
        finally:
            end = time.perf_counter()
            method = str(scope.get("method", ""))
            key = (scope.get("path_template") or "unmatched", method, status)
            timer = _TIMERS.get(key)
            if timer is None:
                timer = _TIMERS.setdefault(key, REQUEST_SECONDS.labels(*map(str, key)))
            timer.observe(end - start)
            global _handed_over
            if end - _handed_over >= HAND_OVER_SECONDS:
                _handed_over = end
                hand_over(scope["litestar_app"].state.runtime.authz.tally)


# Each (route, method, status)'s histogram, found without `labels()` and its lock.
_TIMERS: dict[tuple[str, str, int], Any] = {}
# Decisions reach the shared counters at most this often from a request's end (and at
# every scrape from the process that answers it): each hand-over writes the shared file.
HAND_OVER_SECONDS = 0.5
_handed_over = 0.0


def hand_over(tally: DecisionTally) -> None:
    for allowed, cache, count in tally.take():
        DECISIONS.labels("allowed" if allowed else "denied", cache).inc(count)


class _Gauges(Collector):
    """The database's figures, read for this scrape."""

    def __init__(self, backlog: Backlog) -> None:
        self.backlog = backlog

    def collect(self) -> Iterable[Any]:
        b = self.backlog
        yield _gauge("referral_timers_due", "Pending timers whose time has come.", b.timers_due)
        yield _gauge(
            "referral_timers_overdue",
            "Pending timers due for longer than a worker takes to fire them: is a "
            "`referral worker` (or a cron `referral tick`) running?",
            b.timers_overdue,
        )
        yield _gauge(
            "referral_outbox_pending", "Notice e-mails waiting to be sent.", b.outbox_pending
        )
        yield _gauge(
            "referral_audit_queued_entries",
            "Audit entries written but not yet placed in their chain (unsequenced).",
            b.audit_queued,
        )
        yield _gauge(
            "referral_audit_oldest_queued_seconds",
            "Age of the oldest unsequenced audit entry (0 when none waits).",
            b.audit_oldest_queued_seconds,
        )
        if b.audit_head_age_seconds is not None:
            yield _gauge(
                "referral_audit_chain_head_age_seconds",
                "Seconds since the newest entry placed in any audit chain.",
                b.audit_head_age_seconds,
            )


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def exposition(backlog: Backlog, tally: DecisionTally) -> bytes:
    """Every metric in Prometheus's text format: the processes' counts, then the
    database's figures."""
    hand_over(tally)
    # prometheus-client chose at import, from PROMETHEUS_MULTIPROC_DIR, where counts go.
    if values.ValueClass is not values.MutexValue:
        counted = CollectorRegistry()
        multiprocess.MultiProcessCollector(counted)  # type: ignore[no-untyped-call]
    else:
        counted = REGISTRY
    read = CollectorRegistry(auto_describe=False)
    read.register(_Gauges(backlog))
    return generate_latest(counted) + generate_latest(read)
