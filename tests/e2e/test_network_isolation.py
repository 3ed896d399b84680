"""A user of one network reaches nothing of another: every route that takes an id answers
404 for the other network's case, meeting, information request and everything else.

The routes come from the app's own route table, so a route added later is covered (or the
test names the id it does not know how to fill, and fails).
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from litestar import Litestar
from sqlalchemy import select

from referral.db.tables import (
    ApiToken,
    Case,
    LinkageAlert,
    Network,
    Notification,
    Organisation,
    RoleAssignment,
    SsoIdentity,
    User,
    WebhookEndpoint,
)
from referral.demo import DemoWorld
from referral.domain.actors import Actor
from referral.domain.vocabulary import OrgKind, Role
from referral.services import auth, breakglass, information, summons, transfers
from referral.services.admin import ASSIGNABLE_ROLES
from referral.services.uow import Runtime, UnitOfWork
from tests.e2e.conftest import Browser, _hash
from tests.factories import schedule, submit, to_information_gathering, to_support

PARAM = re.compile(r"\{(\w+):(\w+)\}")
OUTSIDER = "outsider"


@dataclass(frozen=True)
class Other:
    """The ids of the demo network's objects, seen from outside it."""

    ids: dict[str, int]


def _outsider(runtime: Runtime) -> Actor:
    """A user of another network holding every role there, so that only the network (and
    never a missing role) can be what refuses them."""
    with runtime.session_factory() as session, session.begin():
        network = Network(slug="elsewhere", name="Elsewhere Prevention Network")
        session.add(network)
        session.flush()
        org = Organisation(network_id=network.id, name="Elsewhere council", kind="local_authority")
        session.add(org)
        session.flush()
        user = User(
            username=OUTSIDER,
            display_name="Olly Outsider",
            organisation_id=org.id,
            password_hash=_hash(),
        )
        session.add(user)
        session.flush()
        session.add_all(
            RoleAssignment(user_id=user.id, network_id=network.id, role=role)
            for role in ASSIGNABLE_ROLES
        )
        roles = frozenset(Role(r) for r in ASSIGNABLE_ROLES)
        return Actor(user.id, org.id, OrgKind.LOCAL_AUTHORITY, network.id, network.slug, roles)


def _demo_objects(runtime: Runtime, world: DemoWorld, app_settings: object) -> Other:
    """One of each kind of object in the demo network, built through the services."""
    meeting_id = schedule(world, runtime)
    case_id, intervention_id = to_support(world, meeting_id)
    asked = to_information_gathering(world)
    (request_id,) = world.run(
        "coordinator",
        information.send_information_requests,
        information.SendInformationRequests(asked, (world.org_ids[OrgKind.HEALTH],), "Known?"),
    )
    grant_id = world.run(
        "dpo",
        breakglass.open_break_glass,
        breakglass.OpenBreakGlass(case_id, "special", "Isolation test: checking a record.", 60),
    )
    # A transfer proposed to a third network (not the outsider's: they would receive it), and
    # an official summoned to a meeting not yet held.
    with runtime.session_factory() as session, session.begin():
        third = Network(slug="third-city", name="Third City Prevention Network")
        session.add(third)
    proposal_id = world.run(
        "coordinator",
        transfers.propose_transfer,
        transfers.ProposeTransfer(submit(world), "third-city", "Moving to the third city."),
    )
    summons_id = world.run(
        "chair",
        summons.summon,
        summons.Summon(schedule(world, runtime), "referrer", "Isolation test: an official."),
    )
    with UnitOfWork(runtime) as uow:
        auth.issue_api_token(uow, world.actors["coordinator"], auth.IssueToken("b"), app_settings)  # type: ignore[arg-type]
    network_id = world.actors["coordinator"].network_id
    with runtime.session_factory() as session, session.begin():
        now = runtime.clock()
        endpoint = WebhookEndpoint(
            network_id=network_id,
            url="https://hooks.example.invalid/referral",
            events="case:moved",
            secret="s" * 32,
            active=True,
            created_at=now,
            created_by=world.actors["admin"].user_id,
        )
        identity = SsoIdentity(
            network_id=network_id,
            issuer="https://id.example.invalid",
            subject="someone",
            first_seen_at=now,
            last_seen_at=now,
        )
        session.add_all([endpoint, identity])
        session.flush()
        case = session.get(Case, case_id)
        assert case is not None
        notification_id = session.scalar(
            select(Notification.id).where(Notification.network_id == network_id)
        )
        token_id = session.scalar(select(ApiToken.id).where(ApiToken.network_id == network_id))
        # Two of the cases above are the same (synthetic) person: linkage linked them.
        alert_id = session.scalar(
            select(LinkageAlert.id).where(LinkageAlert.network_id == network_id)
        )
        ids = {
            "case_id": case_id,
            "meeting_id": meeting_id,
            "request_id": request_id,
            "intervention_id": intervention_id,
            "grant_id": grant_id,
            "subject_id": case.subject_id,
            "notification_id": notification_id,
            "user_id": world.actors["referrer"].user_id,
            "token_id": token_id,
            "endpoint_id": endpoint.id,
            "identity_id": identity.id,
            "proposal_id": proposal_id,
            "summons_id": summons_id,
            "alert_id": alert_id,
        }
    assert all(isinstance(v, int) for v in ids.values()), ids
    return Other(ids)  # type: ignore[arg-type]


# What a person's form would hold: each handler reads its own fields and ignores the rest,
# so that a form's own checks pass and only the object's network can refuse it.
FORM = {
    "body": "A contribution.",
    "case_ids": "1",
    "change": "grant",
    "role": "referrer",
    "trigger": "hold",
    "text": "Some text.",
    "notes": "Some notes.",
    "outcome": "support",
    "rationale": "A rationale.",
    "answer": "confirm",
}
# API bodies the schema cannot say enough about: values from the lists the API checks.
API_VALUES = {
    "/api/cases/{case_id}/interventions": {"kind": "mentoring"},
    "/api/cases/{case_id}/reviews": {"kind": "review"},
}
# String parameters: what each stands for in the demo network.
STRING_PARAMS = {"subject": "case", "network": "demo-city"}
# Routes whose string parameter is not an object of a network: the single sign-on steps
# name a network by its slug before anyone is signed in (tests/e2e/test_sso.py).
NOT_OBJECTS = ("/sso/", "/schema")


def _routes(app: Litestar) -> list[tuple[str, str]]:
    """(method, path template) of every route that names an object by id."""
    found = []
    for route in app.routes:
        path = route.path
        if not PARAM.search(path) or path.startswith(NOT_OBJECTS) or path.startswith("/static"):
            continue
        for method in sorted(getattr(route, "methods", ())):
            if method in ("HEAD", "OPTIONS"):
                continue
            found.append((method, path))
    return found


def _example(schema: dict[str, Any], components: dict[str, Any]) -> Any:
    """A value the schema accepts: the API checks a body's shape before it looks for the
    object, so an empty body would be refused (400) before the network is asked at all."""
    if "$ref" in schema:
        return _example(components[schema["$ref"].rsplit("/", 1)[-1]], components)
    for key in ("oneOf", "anyOf"):
        if key in schema:
            options = [o for o in schema[key] if o.get("type") != "null"]
            return _example(options[0], components)
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next(k for k in kind if k != "null")
    if kind == "object":
        return {
            name: _example(sub, components)
            for name, sub in schema.get("properties", {}).items()
            if name in schema.get("required", [])
        }
    if kind == "array":
        return [_example(schema.get("items", {}), components)] * max(1, schema.get("minItems", 1))
    if kind == "integer":
        return max(1, schema.get("minimum", 1))
    if kind == "number":
        return 1
    if kind == "boolean":
        return True
    if schema.get("format") == "date-time":
        return "2026-03-03T10:00:00Z"
    if schema.get("format") == "date":
        return "2026-03-03"
    return "x" * max(1, schema.get("minLength", 1) or 1) + "ample text"


def _bodies(app: Litestar) -> dict[str, Any]:
    """A valid JSON body for each API route that takes one, from the OpenAPI schema."""
    schema = app.openapi_schema.to_schema()
    components = schema.get("components", {}).get("schemas", {})
    found = {}
    for path, item in schema["paths"].items():
        body = item.get("post", {}).get("requestBody")
        if body:
            shape = body["content"]["application/json"]["schema"]
            found[path] = _example(shape, components)
    return found


def _fill(path: str, other: Other) -> str:
    def value(match: re.Match[str]) -> str:
        name, kind = match.group(1), match.group(2)
        if kind == "str":
            if name == "ref":
                return str(other.ids["case_id"])
            assert name in STRING_PARAMS, f"{path}: say what '{name}' stands for"
            return STRING_PARAMS[name]
        assert name in other.ids, f"{path}: a new kind of id '{name}': add one to the test"
        return str(other.ids[name])

    return PARAM.sub(value, path)


@pytest.fixture
def other(runtime: Runtime, world: DemoWorld, app_settings: object) -> Other:
    return _demo_objects(runtime, world, app_settings)


def test_every_route_with_an_id_answers_404_for_another_networks_objects(
    runtime: Runtime,
    world: DemoWorld,
    other: Other,
    browser: Callable[..., Browser],
    shared_app: Litestar,
    app_settings: object,
) -> None:
    outsider = _outsider(runtime)
    pages = browser(OUTSIDER)
    with UnitOfWork(runtime) as uow:
        token = auth.issue_api_token(uow, outsider, auth.IssueToken("iso"), app_settings)  # type: ignore[arg-type]
    bearer = {"Authorization": f"Bearer {token}"}
    routes = _routes(shared_app)
    bodies = _bodies(shared_app)
    assert len(routes) > 40  # the whole table, not a hand-picked few
    checked: list[str] = []
    wrong: list[str] = []
    for method, template in routes:
        url = _fill(template, other)
        if template.startswith("/api/"):
            if method == "GET":
                response = pages.client.get(url, headers=bearer)
            else:
                plain = PARAM.sub(lambda m: "{" + m.group(1) + "}", template)
                body = {**bodies.get(plain, {}), **API_VALUES.get(plain, {})}
                if "provider_org_id" in body:
                    body["provider_org_id"] = outsider.organisation_id
                response = pages.client.post(url, json=body, headers=bearer)
        elif method == "GET":
            response = pages.client.get(url, follow_redirects=False)
        else:
            response = pages.post(url, FORM)
        checked.append(f"{method} {template}")
        if response.status_code != 404:
            wrong.append(f"{method} {url}: {response.status_code} {response.text[-300:]}")
    assert not wrong, "not 404 across networks:\n" + "\n".join(wrong)
    for expected in (
        "GET /cases/{case_id:int}",
        "GET /meetings/{meeting_id:int}",
        "GET /information-requests/{request_id:int}",
        "GET /api/cases/{case_id:int}",
        "GET /api/information-requests/{request_id:int}",
        "POST /api/meetings/{meeting_id:int}/transitions",
    ):
        assert expected in checked


def test_the_same_ids_answer_in_their_own_network(
    other: Other, browser: Callable[..., Browser]
) -> None:
    """The ids above are real: the demo network's own people reach them."""
    coordinator = browser("coordinator")
    assert coordinator.get(f"/cases/{other.ids['case_id']}").status_code == 200
    assert coordinator.get(f"/meetings/{other.ids['meeting_id']}").status_code == 200
    contact = browser("health_contact")
    assert contact.get(f"/information-requests/{other.ids['request_id']}").status_code == 200
