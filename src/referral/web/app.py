"""The Litestar application: pages, JSON API, static files, OpenAPI at /schema."""

import gc
from collections.abc import Callable
from functools import partial
from pathlib import Path

from litestar import Litestar, Router
from litestar.logging.config import LoggingConfig
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from referral import __version__
from referral.bootstrap import build_runtime
from referral.config import Settings, get_settings
from referral.logging import configure_logging, keep_queries_out_of_access_log
from referral.services.audit_sequencing import background_sequencer
from referral.services.operations import migration_heads
from referral.services.uow import Runtime
from referral.web import templating
from referral.web.api.schema import ClosedBodySchema
from referral.web.controllers import API_ROUTES, PAGE_ROUTES
from referral.web.deps import DEPENDENCIES
from referral.web.errors import EXCEPTION_HANDLERS
from referral.web.headers import add_security_headers
from referral.web.input_guard import InputGuard
from referral.web.metrics import RecordRequests
from referral.web.reads import AnnounceReads
from referral.web.session import send_new_csrf_cookie, session_guard

HERE = Path(__file__).parent


def _stop_committer(app: Litestar) -> None:
    """Write what is queued before the process ends."""
    runtime: Runtime = app.state.runtime
    if runtime.committer is not None:
        runtime.committer.close()


def _freeze_what_startup_built() -> None:
    """Keep what the process built to serve (modules, mappers, policies, templates) out
    of the garbage collector's full passes: with them, a full pass took about 60 ms every
    few hundred pages, every request waiting behind it (docs/performance.md, fifth pass).
    Only a server process does this: what it froze lives as long as the process anyway."""
    gc.collect()
    gc.freeze()


def _library_logging(settings: Settings) -> LoggingConfig:
    """The standard library's logging (Litestar's own and the libraries'), at the
    configured level. The workflow engine's line per state callback and Casbin's line per
    decision are off: the audit log records every move and decision, and Casbin's line
    would print the question asked, every fact of the case included."""
    return LoggingConfig(
        root={"handlers": ["queue_listener"], "level": settings.log_level.upper()},
        loggers={
            "transitions": {"level": "WARNING"},
            "casbin": {"level": "ERROR"},
            # A line per call to an identity provider says nothing the logs need.
            "urllib3": {"level": "WARNING"},
        },
    )


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> Litestar:
    settings = settings or get_settings()
    # Only a process that builds its own runtime sequences audit entries in the
    # background: a runtime handed in (tests) may share one connection across threads.
    sequencer = None
    startup: list[Callable[[], object]] = []
    if runtime is None:
        # A server process sets up its own logs: `serve --workers N` starts each worker
        # as a new interpreter that imports this factory, not the command that ran.
        configure_logging(settings)
        keep_queries_out_of_access_log()
        runtime = build_runtime(settings, serving=True)
        sequencer = background_sequencer(runtime, settings.audit_sequencer_interval_ms)
        # The migrations' head is read once, before the first /ready asks for it.
        startup = [
            *([sequencer.start] if sequencer else []),
            migration_heads,
            _freeze_what_startup_built,
        ]
    static = create_static_files_router(
        path="/static", directories=[HERE / "static"], opt={"no_session": True}, name="static"
    )
    app = Litestar(
        # A Router copies the handlers, so several apps (one per test) can share them.
        route_handlers=[
            Router(path="/", route_handlers=PAGE_ROUTES, include_in_schema=False),
            Router(path="/", route_handlers=API_ROUTES),
            static,
        ],
        dependencies=DEPENDENCIES,
        guards=[session_guard],
        exception_handlers=EXCEPTION_HANDLERS,
        # Outermost, so that a request's time includes everything the app does for it.
        middleware=[RecordRequests(), InputGuard(), AnnounceReads()],
        plugins=[ClosedBodySchema()],
        before_send=[send_new_csrf_cookie, add_security_headers],
        template_config=TemplateConfig(
            directory=HERE / "templates",
            engine=JinjaTemplateEngine,
            engine_callback=partial(
                templating.configure,
                workflows=runtime.workflows,
                labels=settings.policies_dir / "labels.yaml",
            ),
        ),
        openapi_config=OpenAPIConfig(
            title="referral API",
            version=__version__,
            path="/schema",
            description="Multi-agency prevention referrals under sharing policies.",
            components=Components(
                security_schemes={
                    "bearer": SecurityScheme(
                        type="http",
                        scheme="bearer",
                        description="An API token from your account page or POST /api/tokens.",
                    ),
                    "session": SecurityScheme(
                        type="apiKey",
                        name="referral_session",
                        security_scheme_in="cookie",
                        description="The browser session; send X-CSRF-Token on changes.",
                    ),
                }
            ),
            security=[{"bearer": []}, {"session": []}],
        ),
        debug=False,
        logging_config=_library_logging(settings),
        on_startup=startup,
        # Queued writes first, then a last sequencing of what they queued.
        on_shutdown=[_stop_committer, *([sequencer.stop] if sequencer else [])],
    )
    app.state.settings = settings
    app.state.runtime = runtime
    return app
