"""The OpenID Connect relying party: one network's sign-in through its identity provider.

The authorization code flow with PKCE (S256), state and nonce, on authlib's client:

- `start` reads the provider's discovery document (its `issuer` must be the configured
  one, exactly) and builds the authorization address with a fresh state, nonce and code
  verifier, which the caller keeps for the browser in a short-lived cookie.
- `finish` swaps the code for tokens at the token endpoint (client secret and code
  verifier), then checks the ID token: its signature against the provider's JWKS (a key
  not seen before fetches the set once more: providers rotate keys), its issuer,
  audience (this client), expiry, issue time, nonce, authorised party and access-token
  hash. Only then does it say who the person is.
- `end_session_url` is where to send a browser whose session we ended, to sign out at
  the provider too (OpenID Connect RP-Initiated Logout 1.0): the discovery document's
  `end_session_endpoint` with `id_token_hint`, `client_id`, `post_logout_redirect_uri`
  and `state`; None when the provider offers no such endpoint.

Nothing here touches the database; every call to the provider happens before the
caller's unit of work begins. Errors are `SsoRefused`, whose message a person may read
and whose `reason` is a short code for the logs: never a token, a code or the secret.
"""

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from referral.config import OidcProvider

# How long a provider's discovery document and keys are trusted before they are read
# again; a key not in the set is looked up at once anyway.
METADATA_TTL_SECONDS = 3600
# The provider's clock and ours may differ a little.
LEEWAY_SECONDS = 60
# Asymmetric algorithms only: a symmetric one would let the client secret sign tokens.
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")


class SsoRefused(Exception):
    """A sign-in through a provider that cannot go on; `message` is for the person."""

    def __init__(self, reason: str, message: str, status_code: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.message = message
        self.status_code = status_code


@dataclass(frozen=True)
class Metadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    algorithms: tuple[str, ...]
    end_session_endpoint: str = ""  # RP-Initiated Logout; "" when the provider has none


@dataclass(frozen=True)
class Started:
    """Where to send the browser, and what to keep until it comes back."""

    url: str
    state: str
    nonce: str
    verifier: str


@dataclass(frozen=True)
class Identity:
    """Who the provider says signed in: issuer and subject name them; the rest helps an
    administrator recognise them."""

    issuer: str
    subject: str
    name: str
    email: str
    organisation: str
    # The verified ID token itself: the hint a later sign-out gives the provider.
    id_token: str = field(default="", repr=False)


@dataclass
class _Cached:
    metadata: Metadata
    keys: KeySet | None
    fetched_at: float


# Per process, by issuer: every sign-in would otherwise cost two more round trips.
_CACHE: dict[str, _Cached] = {}
_CACHE_LOCK = threading.Lock()


def forget_providers() -> None:
    """Drop what was learnt of every provider (tests start each provider afresh)."""
    with _CACHE_LOCK:
        _CACHE.clear()


class RelyingParty:
    def __init__(self, provider: OidcProvider, redirect_uri: str, timeout: float) -> None:
        self.provider = provider
        self.redirect_uri = redirect_uri
        self.timeout = timeout

    def start(self) -> Started:
        metadata = self._metadata()
        state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(48)
        with self._client() as client:
            url, _ = client.create_authorization_url(
                metadata.authorization_endpoint,
                state=state,
                code_verifier=verifier,
                nonce=nonce,
            )
        return Started(str(url), state, nonce, verifier)

    def finish(self, code: str, verifier: str, nonce: str) -> Identity:
        metadata = self._metadata()
        with self._client() as client:
            try:
                token = client.fetch_token(
                    metadata.token_endpoint,
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=verifier,
                    timeout=self.timeout,
                )
            except OAuthError as exc:
                raise SsoRefused(
                    "token_refused",
                    "The identity provider refused to complete this sign-in "
                    f"({exc.error}). Start again from the sign-in page.",
                ) from exc
            except requests.RequestException as exc:
                raise _unreachable() from exc
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise SsoRefused(
                "no_id_token", "The identity provider did not say who signed in (no ID token)."
            )
        claims = self._verified(id_token, metadata, nonce, str(token.get("access_token", "")))
        organisation = claims.get(self.provider.organisation_claim, "")
        return Identity(
            issuer=str(claims["iss"]),
            subject=str(claims["sub"]),
            name=_text(claims.get("name"), 200),
            email=_text(claims.get("email"), 254),
            organisation=_text(organisation, 200),
            id_token=id_token,
        )

    def end_session_url(self, id_token: str, post_logout_redirect_uri: str) -> str | None:
        """Where to send the browser to end the provider's session too; None if the
        provider has no end_session_endpoint. SsoRefused if it cannot be reached."""
        endpoint = self._metadata().end_session_endpoint
        if not endpoint:
            return None
        params = {
            "id_token_hint": id_token,
            "client_id": self.provider.client_id,
            "post_logout_redirect_uri": post_logout_redirect_uri,
            "state": secrets.token_urlsafe(16),
        }
        joiner = "&" if urlsplit(endpoint).query else "?"
        return f"{endpoint}{joiner}{urlencode(params)}"

    def _client(self) -> OAuth2Session:
        return OAuth2Session(
            client_id=self.provider.client_id,
            client_secret=self.provider.client_secret.get_secret_value(),
            scope=self.provider.scopes,
            redirect_uri=self.redirect_uri,
            code_challenge_method="S256",
            token_endpoint_auth_method="client_secret_basic",  # noqa: S106 (a method name)
        )

    def _verified(
        self, id_token: str, metadata: Metadata, nonce: str, access_token: str
    ) -> CodeIDToken:
        registry = JWSRegistry(algorithms=list(metadata.algorithms))
        try:
            try:
                decoded = jwt.decode(id_token, self._keys(metadata), registry=registry)
            except InvalidKeyIdError:
                decoded = jwt.decode(id_token, self._keys(metadata, fresh=True), registry=registry)
        except JoseError as exc:
            raise SsoRefused(
                "bad_signature",
                "The identity provider's answer could not be verified (its signature "
                "does not match the provider's keys).",
            ) from exc
        options = {
            "iss": {"essential": True, "value": self.provider.issuer},
            "aud": {"essential": True, "value": self.provider.client_id},
        }
        params = {"nonce": nonce, "client_id": self.provider.client_id}
        if access_token:
            params["access_token"] = access_token
        claims = CodeIDToken(decoded.claims, decoded.header, options, params)
        try:
            claims.validate(now=int(time.time()), leeway=LEEWAY_SECONDS)
        except JoseError as exc:
            claim = str(getattr(exc, "claim", "") or "")
            raise _bad_claim(claim) from exc
        return claims

    def _metadata(self) -> Metadata:
        return self._cached().metadata

    def _cached(self) -> _Cached:
        issuer = self.provider.issuer
        with _CACHE_LOCK:
            cached = _CACHE.get(issuer)
        if cached is not None and time.monotonic() - cached.fetched_at < METADATA_TTL_SECONDS:
            return cached
        document = self._get_json(f"{issuer.rstrip('/')}/.well-known/openid-configuration")
        metadata = _metadata_of(document, issuer)
        cached = _Cached(metadata, None, time.monotonic())
        with _CACHE_LOCK:
            _CACHE[issuer] = cached
        return cached

    def _keys(self, metadata: Metadata, *, fresh: bool = False) -> KeySet:
        cached = self._cached()
        if cached.keys is not None and not fresh:
            return cached.keys
        try:
            keys = KeySet.import_key_set(self._get_json(metadata.jwks_uri))  # type: ignore[arg-type]
        except (JoseError, ValueError, KeyError, TypeError) as exc:
            raise SsoRefused(
                "bad_jwks", "The identity provider's signing keys could not be read.", 502
            ) from exc
        cached.keys = keys
        return keys

    def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = requests.get(url, timeout=self.timeout, allow_redirects=False)
            response.raise_for_status()
            document = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise _unreachable() from exc
        if not isinstance(document, dict):
            raise _unreachable()
        return document


def _metadata_of(document: dict[str, Any], issuer: str) -> Metadata:
    # OpenID Connect Discovery 1.0, 4.3: the document must name the issuer it was read
    # from, exactly; otherwise another provider could speak for this one.
    if document.get("issuer") != issuer:
        raise SsoRefused(
            "wrong_issuer",
            "The identity provider names itself differently from the issuer configured "
            "for this network (wrong issuer). Tell your administrator.",
            502,
        )
    try:
        endpoints = {
            key: str(document[key])
            for key in ("authorization_endpoint", "token_endpoint", "jwks_uri")
        }
    except KeyError as exc:
        raise SsoRefused(
            "bad_discovery", "The identity provider's discovery document is incomplete.", 502
        ) from exc
    offered = document.get("id_token_signing_alg_values_supported") or ["RS256"]
    algorithms = tuple(a for a in ALGORITHMS if a in offered)
    if not algorithms:
        raise SsoRefused(
            "bad_discovery", "The identity provider signs ID tokens in no way accepted here.", 502
        )
    end_session = document.get("end_session_endpoint")
    # Only an https address (or the issuer's own scheme and host, as in a test) is used.
    if not isinstance(end_session, str) or not _same_trust(end_session, issuer):
        end_session = ""
    return Metadata(
        issuer=issuer, algorithms=algorithms, end_session_endpoint=end_session, **endpoints
    )


def _same_trust(url: str, issuer: str) -> bool:
    """An end-session address we may send a browser to: https, or the issuer's scheme."""
    scheme = urlsplit(url).scheme
    return scheme == "https" or scheme == urlsplit(issuer).scheme


def _bad_claim(claim: str) -> SsoRefused:
    if claim == "iss":
        return SsoRefused(
            "wrong_issuer",
            "The identity provider's answer was issued by another issuer than the one "
            "configured for this network (wrong issuer). Start again from the sign-in page.",
        )
    if claim == "nonce":
        return SsoRefused(
            "wrong_nonce",
            "The identity provider's answer belongs to another sign-in (its nonce does not "
            "match). Start again from the sign-in page.",
        )
    if claim in ("aud", "azp"):
        return SsoRefused(
            "wrong_audience",
            "The identity provider's answer was meant for another service (wrong audience).",
        )
    if claim in ("exp", "iat", "nbf"):
        return SsoRefused(
            "expired",
            "The identity provider's answer has expired. Start again from the sign-in page.",
        )
    return SsoRefused(
        "bad_claims", "The identity provider's answer could not be accepted. Start again."
    )


def _unreachable() -> SsoRefused:
    return SsoRefused(
        "unreachable",
        "The identity provider could not be reached. Try again in a few minutes, or sign "
        "in with your username and password.",
        502,
    )


def _text(value: object, limit: int) -> str:
    return value.strip()[:limit] if isinstance(value, str) else ""
