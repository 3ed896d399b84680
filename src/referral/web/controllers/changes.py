"""Changing the process or the agreement safely: the dpo's preview of a proposed policy
(and its approval), and the dry run of a workflow migration for a coordinator or admin."""

import tempfile
from pathlib import Path
from typing import Any

from litestar import Request, get, post
from litestar.response import Template

from referral.domain.errors import ConfigurationError, InvalidInput, NotFound
from referral.i18n import N_
from referral.services import migration, policy_impact
from referral.services.uow import UnitOfWork
from referral.web.deps import ONE_STEP, CurrentViewer, Form, Uow, Viewer, read_as_viewer
from referral.web.render import page, see_other
from referral.workflow.schema import WorkflowObject

MAX_POLICY_BYTES = 200_000  # the agreement is some hundreds of lines, never megabytes


def _proposal(form: Any) -> str:
    text = str(form.get("policy", ""))
    if not text.strip():
        raise InvalidInput("paste the proposed policy", {"policy": N_("Paste the proposed policy")})
    if len(text.encode("utf-8")) > MAX_POLICY_BYTES:
        raise InvalidInput(
            "the proposed policy is too long", {"policy": N_("The policy is longer than 200 KB")}
        )
    return text


@get("/policy/impact", name="policy_impact", opt=ONE_STEP)
async def impact_form(request: Request[Any, Any, Any]) -> Template:
    def work(uow: UnitOfWork, viewer: Viewer) -> Template:
        return page(
            request,
            "changes/policy.html",
            viewer,
            policy=policy_impact.live_policy_text(uow, viewer.actor, uow.authz),
            impact=None,
            errors={},
            applied=request.query_params.get("done") == "applied",
            agreement=policy_impact.agreement_in_words(uow, viewer.actor, uow.authz),
        )

    return await read_as_viewer(request, work)


@post("/policy/impact", name="policy_preview", sync_to_thread=True, status_code=200)
def preview(request: Request[Any, Any, Any], uow: Uow, viewer: CurrentViewer, form: Form) -> Any:
    """The impact is a report, not a changed record: shown at once."""
    text = str(form.get("policy", ""))
    try:
        with tempfile.TemporaryDirectory() as folder:
            impact, proposed = policy_impact.review_policy(
                uow, viewer.actor, uow.authz, _proposal(form), Path(folder)
            )
    except (InvalidInput, ConfigurationError) as exc:
        errors = getattr(exc, "errors", {}) or {"policy": _without_folder(exc.message)}
        return page(
            request, "changes/policy.html", viewer, policy=text, impact=None, errors=errors,
            applied=False, status_code=422, agreement=None,
        )  # fmt: skip
    return page(
        request, "changes/policy.html", viewer, policy=text, impact=impact, errors={},
        proposed_hash=proposed.policy_hash, applied=False, agreement=None,
    )  # fmt: skip


def _without_folder(message: str) -> str:
    """A loader's message names the temporary folder: the dpo knows the file by its name."""
    return "\n".join(line.rsplit("/", 1)[-1] for line in message.splitlines())


@post("/policy/apply", name="policy_apply", sync_to_thread=True, status_code=303)
def apply(request: Request[Any, Any, Any], uow: Uow, viewer: CurrentViewer, form: Form) -> Any:
    with tempfile.TemporaryDirectory() as folder:
        # Written out again from the form; apply_policy checks it is what the dpo read.
        policy_impact.propose(uow.authz, _proposal(form), Path(folder))
        command = policy_impact.ApplyPolicy(
            Path(folder), viewer.actor, str(form.get("expected_hash", ""))
        )
        policy_impact.apply_policy(uow, uow.authz, command)
    return see_other("/policy/impact?done=applied")


@get("/workflows/migrate", name="workflow_migration", opt=ONE_STEP)
async def migration_dry_run(request: Request[Any, Any, Any]) -> Template:
    """The same dry run `referral workflows migrate --dry-run` prints, for one's network."""

    def work(uow: UnitOfWork, viewer: Viewer) -> Template:
        params = request.query_params
        choices = {
            name: uow.runtime.workflows.versions(name)
            for name, workflow in uow.runtime.workflows.items()
            if workflow.object is WorkflowObject.CASE
        }
        values = {k: str(params.get(k, "")) for k in ("workflow", "from", "to", "map")}
        report, status = None, 200
        errors: dict[str, str] = {}
        if params.get("workflow"):
            try:
                command = migration.MigrateCases(
                    values["workflow"],
                    _version(values["from"], "from"),
                    _version(values["to"], "to"),
                    migration.parse_mapping(values["map"].split()),
                )
                report = migration.plan_for(uow, viewer.actor, command)
            except (InvalidInput, NotFound) as exc:
                errors = getattr(exc, "errors", {}) or {"map": exc.message}
                status = 422
        return page(
            request, "changes/migration.html", viewer, choices=choices, values=values,
            report=report, errors=errors, status_code=status,
        )  # fmt: skip

    return await read_as_viewer(request, work)


def _version(text: str, field: str) -> int:
    if not text.strip().isdigit() or not 0 < int(text) < 10_000:
        raise InvalidInput(
            "{field}: a version number", {field: N_("Give a version number")}, field=field
        )
    return int(text)


ROUTES = [impact_form, preview, apply, migration_dry_run]
