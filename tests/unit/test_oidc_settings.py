"""Single sign-on settings: refused when they would be unsafe, the secret never shown."""

import pytest
from pydantic import ValidationError

from referral.config import Settings

PROVIDER = {"label": "Demo City ID", "client_id": "referral", "client_secret": "s3cret-value"}


@pytest.mark.parametrize(
    ("issuer", "accepted"),
    [
        ("https://id.example.org/realms/partners", True),
        ("http://127.0.0.1:8080", True),
        ("http://localhost:8080", True),
        ("http://id.example.org", False),  # secret and tokens in the clear
        ("https://id.example.org?tenant=x", False),
        ("id.example.org", False),
    ],
)
def test_an_issuer_must_be_https_but_on_this_machine(issuer: str, accepted: bool) -> None:
    value = {"demo-city": {**PROVIDER, "issuer": issuer}}
    if accepted:
        assert Settings(oidc_providers=value).oidc_providers["demo-city"].issuer == issuer
    else:
        with pytest.raises(ValidationError, match="issuer"):
            Settings(oidc_providers=value)


def test_the_scopes_must_ask_for_openid_and_unknown_fields_are_refused() -> None:
    base = {**PROVIDER, "issuer": "https://id.example.org"}
    with pytest.raises(ValidationError, match="openid"):
        Settings(oidc_providers={"demo-city": {**base, "scopes": "profile email"}})
    with pytest.raises(ValidationError, match="client_secrett"):
        Settings(oidc_providers={"demo-city": {**base, "client_secrett": "typo"}})


def test_the_client_secret_is_never_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "REFERRAL_OIDC_PROVIDERS",
        '{"demo-city": {"label": "Demo City ID", "issuer": "https://id.example.org", '
        '"client_id": "referral", "client_secret": "s3cret-value"}}',
    )
    settings = Settings()
    provider = settings.oidc_providers["demo-city"]
    assert provider.client_secret.get_secret_value() == "s3cret-value"
    assert "s3cret-value" not in repr(settings) + str(settings) + repr(provider)
