"""Finding a case: by its reference, or by a person's name and date of birth for those who
may read identity (services.search). Status data only on the page."""

from typing import Any

from litestar import Request, get
from litestar.response import Template

from referral.domain.errors import InvalidInput
from referral.i18n import N_
from referral.services import search
from referral.services.uow import UnitOfWork
from referral.web.controllers.binding import form_date
from referral.web.deps import ONE_STEP, Viewer, read_as_viewer
from referral.web.render import page

BAD_DATE = N_("Enter the date of birth as a date, for example 2009-05-17.")


def search_command(text: str, born_text: str) -> search.SearchCases:
    born = form_date(born_text) if born_text.strip() else None
    if born_text.strip() and born is None:
        raise InvalidInput(BAD_DATE, {"born": BAD_DATE})
    return search.SearchCases(text=text[: search.MAX_QUERY + 1], born=born)


@get("/search", name="search", opt=ONE_STEP)
async def search_page(request: Request[Any, Any, Any]) -> Template:
    text = str(request.query_params.get("q", ""))
    born_text = str(request.query_params.get("born", ""))[:32]

    def work(uow: UnitOfWork, viewer: Viewer) -> Template:
        asked = bool(text.strip() or born_text.strip())
        try:
            result = (
                search.search_cases(uow, viewer.actor, search_command(text, born_text))
                if asked
                else search.SearchResult([], "")
            )
        except InvalidInput as exc:
            return page(
                request,
                "search/search.html",
                viewer,
                status_code=422,
                q=text,
                born=born_text,
                result=None,
                errors=exc.errors or {"q": exc.message},
                asked=asked,
            )
        return page(
            request,
            "search/search.html",
            viewer,
            q=text,
            born=born_text,
            result=result,
            errors={},
            asked=asked,
        )

    return await read_as_viewer(request, work)


ROUTES = [search_page]
