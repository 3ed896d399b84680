"""Rendering pages: one template per page; HTMX requests get the named partial only."""

from typing import Any

from litestar import MediaType, Request
from litestar.response import Redirect, Template

from referral.web.deps import Viewer


def page(
    request: Request[Any, Any, Any],
    template: str,
    viewer: Viewer | None = None,
    *,
    partial: str | None = None,
    status_code: int = 200,
    **context: Any,
) -> Template:
    """The whole page, or for an HTMX request the partial template that swaps in."""
    name = partial if partial and request.headers.get("hx-request") else template
    csrf = viewer.csrf_token if viewer else context.pop("csrf", "")
    return Template(
        name,
        context={"viewer": viewer, "csrf": csrf, **context},
        status_code=status_code,
        # Explicit: handlers that answer a form with a page or a redirect return Any.
        media_type=MediaType.HTML,
    )


def see_other(path: str) -> Redirect:
    """After a form post: 303, so a reload does not post again."""
    return Redirect(path, status_code=303)
