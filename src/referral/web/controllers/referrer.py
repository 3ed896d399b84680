"""The referrer's pages: their referrals with status and feedback, and a new referral."""

from datetime import date
from typing import Any

from litestar import Request, get, post
from litestar.response import Template

from referral.domain.errors import InvalidInput
from referral.domain.vocabulary import ConcernType
from referral.services import referrals
from referral.services.uow import UnitOfWork
from referral.web.controllers.binding import form_date, whole_number
from referral.web.deps import (
    ONE_STEP,
    CurrentViewer,
    Form,
    Uow,
    Viewer,
    read_as_viewer,
    viewer_in_one_step,
)
from referral.web.render import page, see_other

MY_REFERRALS_PAGE = 25
SUBJECT_FIELDS = [f for f in referrals.SubjectDetails.__dataclass_fields__ if f != "date_of_birth"]


@get("/referrals", name="my_referrals", opt=ONE_STEP)
async def my_referrals(request: Request[Any, Any, Any]) -> Template:
    after = str(request.query_params.get("after", ""))[:80]
    submitted = whole_number(str(request.query_params.get("submitted", "")))

    def work(uow: UnitOfWork, viewer: Viewer) -> Template:
        listed = referrals.case_page(
            uow, viewer.actor, referrals.ListCases(limit=MY_REFERRALS_PAGE, after=after)
        )
        just_sent = next((c for c in listed.rows if c.case_id == submitted), None)
        return page(
            request,
            "referrer/list.html",
            viewer,
            cases=listed.rows,
            after=after,
            next_after=listed.next_after,
            just_sent=just_sent,
            submitted=submitted,
        )

    return await read_as_viewer(request, work)


@get("/referrals/new", name="new_referral", opt=ONE_STEP)
async def new_referral(request: Request[Any, Any, Any]) -> Template:
    viewer = await viewer_in_one_step(request)
    return page(
        request, "referrer/new.html", viewer, values={}, errors={}, concern_types=list(ConcernType)
    )


def _parse_date(text: str, errors: dict[str, str]) -> date | None:
    if not text.strip():
        return None
    born = form_date(text)
    if born is None:
        errors["date_of_birth"] = "Enter the date of birth as a date, for example 2009-05-17."
    return born


def referral_from_form(form: Form) -> tuple[referrals.SubmitReferral | None, dict[str, str]]:
    """The command a submitted form describes, or the errors that stop it being one."""
    errors: dict[str, str] = {}
    born = _parse_date(str(form.get("date_of_birth", "")), errors)
    subject = referrals.SubjectDetails(
        date_of_birth=born, **{name: str(form.get(name, "")).strip() for name in SUBJECT_FIELDS}
    )
    command = referrals.SubmitReferral(
        subject=subject,
        concern_summary=str(form.get("concern_summary", "")),
        concern_types=tuple(str(v) for v in form.getall("concern_types", [])),
        narrative=str(form.get("narrative", "")),
        consent_discussed=form.get("consent_discussed") == "yes",
        as_draft=form.get("action") == "draft",
    )
    return (None if errors else command), errors


@post("/referrals", name="submit_referral", sync_to_thread=True, status_code=303)
def submit(request: Request[Any, Any, Any], uow: Uow, viewer: CurrentViewer, form: Form) -> Any:
    command, errors = referral_from_form(form)
    try:
        if command is None:
            raise InvalidInput("the referral has errors", errors)
        case_id = referrals.submit_referral(uow, viewer.actor, command)
    except InvalidInput as exc:
        values = {
            key: form.getall(key) if key == "concern_types" else form.get(key) for key in form
        }
        return page(
            request,
            "referrer/new.html",
            viewer,
            values=values,
            errors={**errors, **exc.errors},
            concern_types=list(ConcernType),
            status_code=422,
        )
    return see_other(f"/referrals?submitted={case_id}")


ROUTES = [my_referrals, new_referral, submit]
