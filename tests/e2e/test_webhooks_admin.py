"""The administrator's webhooks page: register (the secret shown once), the delivery log,
disable; nobody else may reach it; no case content."""

import re
from collections.abc import Callable

from sqlalchemy import select

from referral.db.tables import AuditEntry, WebhookEndpoint
from referral.demo import DemoWorld
from referral.services.uow import Runtime
from tests.conftest import TEST_KEYRING
from tests.e2e.conftest import Browser
from tests.factories import submit


def test_an_admin_registers_an_endpoint_sees_its_deliveries_and_disables_it(
    browser: Callable[..., Browser], runtime: Runtime, world: DemoWorld
) -> None:
    b = browser("admin")
    assert b.get("/admin/webhooks").status_code == 200
    form = {"url": "https://partner.example.org/hooks", "events": ["case.moved"]}
    response = b.post("/admin/webhooks", form)
    assert response.status_code == 201, response.text
    with runtime.session_factory() as session:
        endpoint = session.scalars(select(WebhookEndpoint)).one()
        audited = session.scalars(
            select(AuditEntry.target).where(AuditEntry.action == "admin:webhook_register")
        ).all()
    shown = re.search(r"whsec_[A-Za-z0-9_-]{43}", response.text)
    assert shown, "the secret is shown once, on this answer"
    secret = shown.group(0)
    # Stored sealed only: no column holds the secret, in clear or in base64.
    assert endpoint.secret is None and endpoint.sealed_secret is not None
    assert secret.encode() not in endpoint.sealed_secret
    assert endpoint.master_key_id == TEST_KEYRING.current_id
    assert audited == [f"webhook:{endpoint.id}"]

    submit(world)
    page = b.get("/admin/webhooks").text
    assert secret not in page
    assert "case.moved" in page and "Pending" in page
    assert "Testy" not in page and "MARK" not in page

    assert b.post(f"/admin/webhooks/{endpoint.id}/disable").status_code == 303
    assert "Disabled" in b.get("/admin/webhooks").text
    assert b.post("/admin/webhooks/999999/disable").status_code == 404


def test_a_bad_endpoint_is_refused_beside_its_field(browser: Callable[..., Browser]) -> None:
    b = browser("admin")
    b.get("/admin/webhooks")
    response = b.post("/admin/webhooks", {"url": "http://partner.example.org/", "events": []})
    assert response.status_code == 422
    assert 'id="url-error"' in response.text and 'id="events-error"' in response.text


def test_only_an_admin_reaches_the_webhooks_page(browser: Callable[..., Browser]) -> None:
    b = browser("coordinator")
    assert b.get("/admin/webhooks").status_code == 403
    response = b.post("/admin/webhooks", {"url": "https://p.example/", "events": ["case.moved"]})
    assert response.status_code == 403
