"""A real OpenID provider for the tests: authlib's server side on Flask, served over HTTP.

Discovery document, JWKS, authorization endpoint (a trivial login form: type a known
username), token endpoint with client authentication, the authorization code grant with
PKCE (required) and nonce, ID tokens signed RS256 with a key made at start, and an
end-session endpoint (RP-Initiated Logout 1.0: it verifies the `id_token_hint` against
its own key and the client, accepts only a registered `post_logout_redirect_uri`, records
the sign-out and sends the browser back with the `state`). Nothing of the protocol is
faked on the relying party's side: it talks to this over real sockets.

Knobs make the provider misbehave for the refusal tests: `token_issuer` (the `iss` its
ID tokens carry), `token_audience` (their `aud`), `nonce_override` (their nonce) and
`forge_signature` (sign with a key of the same id that the JWKS does not publish);
`end_session` (False: the discovery document names no end-session endpoint).
"""

import logging
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, grants
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from authlib.oidc.core.models import AuthorizationCodeMixin
from flask import Flask, Response, jsonify, request
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey
from markupsafe import escape
from werkzeug.serving import BaseWSGIServer, make_server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Person:
    username: str
    subject: str
    name: str
    email: str
    organisation: str


@dataclass
class Client(ClientMixin):  # type: ignore[misc]
    client_id: str
    client_secret: str
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str] = field(default_factory=list)

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uris[0]

    def get_allowed_scope(self, scope: str) -> str:
        allowed = {"openid", "profile", "email"}
        return " ".join(s for s in scope.split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


@dataclass
class Code(AuthorizationCodeMixin):  # type: ignore[misc]
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    nonce: str | None
    person: Person
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int = field(default_factory=lambda: int(time.time()))

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time


class TestProvider:
    """One provider on 127.0.0.1:<free port>; `issuer` is its address."""

    __test__ = False

    def __init__(self) -> None:
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.key = RSAKey.generate_key(2048, parameters={"kid": secrets.token_hex(4)})
        self.clients: dict[str, Client] = {}
        self.people: dict[str, Person] = {}
        self.codes: dict[str, Code] = {}
        self.token_issuer: str | None = None
        self.nonce_override: str | None = None
        self.forge_signature = False
        self.token_audience: list[str] | None = None
        self.end_session = True
        # (subject, client id) of each sign-out the end-session endpoint accepted.
        self.signed_out: list[tuple[str, str]] = []
        self.app = self._build()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def add_client(
        self, client_id: str, secret: str, redirect_uri: str, post_logout_redirect_uri: str = ""
    ) -> None:
        after = [post_logout_redirect_uri] if post_logout_redirect_uri else []
        self.clients[client_id] = Client(client_id, secret, [redirect_uri], after)

    def add_person(self, username: str, organisation: str = "Demo police") -> Person:
        person = Person(
            username=username,
            subject=f"sub-{secrets.token_hex(6)}",
            name=f"{username.title()} Example",
            email=f"{username}@id.example.org",
            organisation=organisation,
        )
        self.people[username] = person
        return person

    def start(self) -> "TestProvider":
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
        self._server = make_server("127.0.0.1", self.port, self.app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # -- the Flask app ---------------------------------------------------------------

    def _build(self) -> Flask:
        app = Flask(__name__)
        provider = self
        server = AuthorizationServer(
            app, query_client=self.clients.get, save_token=lambda token, req: None
        )

        class CodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
            TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

            def save_authorization_code(self, code: str, req: Any) -> None:
                data = req.payload.data
                provider.codes[code] = Code(
                    code=code,
                    client_id=req.client.get_client_id(),
                    redirect_uri=req.payload.redirect_uri,
                    scope=req.scope,
                    nonce=data.get("nonce"),
                    person=req.user,
                    code_challenge=data.get("code_challenge"),
                    code_challenge_method=data.get("code_challenge_method"),
                )

            def query_authorization_code(self, code: str, client: Client) -> Code | None:
                found = provider.codes.get(code)
                return found if found and found.client_id == client.client_id else None

            def delete_authorization_code(self, authorization_code: Code) -> None:
                provider.codes.pop(authorization_code.code, None)

            def authenticate_user(self, authorization_code: Code) -> Person:
                return authorization_code.person

        class IdToken(OpenIDCode):  # type: ignore[misc]
            def exists_nonce(self, nonce: str, req: Any) -> bool:
                return any(c.nonce == nonce for c in provider.codes.values())

            def resolve_client_private_key(self, client: Client) -> RSAKey:
                if provider.forge_signature:
                    return RSAKey.generate_key(2048, parameters={"kid": provider.key.kid})
                return provider.key

            def get_client_algorithm(self, client: Client) -> str:
                return "RS256"

            def get_encode_header(self, client: Client) -> dict[str, str]:
                return {"alg": "RS256", "kid": str(provider.key.kid)}

            def get_client_claims(self, client: Client) -> dict[str, Any]:
                return {
                    "iss": provider.token_issuer or provider.issuer,
                    "aud": provider.token_audience or [client.client_id],
                    "exp": int(time.time()) + 300,
                }

            def get_authorization_code_claims(self, code: Code) -> dict[str, Any]:
                claims: dict[str, Any] = super().get_authorization_code_claims(code)
                if provider.nonce_override is not None:
                    claims["nonce"] = provider.nonce_override
                return claims

            def generate_user_info(self, user: Person, scope: str) -> UserInfo:
                return UserInfo(
                    sub=user.subject,
                    name=user.name,
                    email=user.email,
                    organisation=user.organisation,
                )

        server.register_grant(CodeGrant, [IdToken(require_nonce=True), CodeChallenge(True)])

        @app.get("/.well-known/openid-configuration")
        def discovery() -> Response:
            logout = {"end_session_endpoint": f"{provider.issuer}/logout"}
            return jsonify(
                **(logout if provider.end_session else {}),
                issuer=provider.issuer,
                authorization_endpoint=f"{provider.issuer}/authorize",
                token_endpoint=f"{provider.issuer}/token",
                jwks_uri=f"{provider.issuer}/jwks",
                response_types_supported=["code"],
                subject_types_supported=["public"],
                id_token_signing_alg_values_supported=["RS256"],
                code_challenge_methods_supported=["S256"],
                token_endpoint_auth_methods_supported=["client_secret_basic"],
            )

        @app.get("/jwks")
        def jwks() -> Response:
            return jsonify(KeySet([provider.key]).as_dict(private=False))

        @app.get("/authorize")
        def login_form() -> Any:
            server.get_consent_grant(end_user=None)  # refuses a bad request here
            action = f"/authorize?{urlencode(request.args)}"
            return (
                '<!doctype html><html lang="en"><head><title>Test identity provider</title>'
                "</head><body><main><h1>Test identity provider</h1>"
                f'<form method="post" action="{escape(action)}">'
                '<label for="username">Username</label>'
                '<input id="username" name="username" autocomplete="username">'
                '<button type="submit">Continue</button></form></main></body></html>'
            )

        @app.post("/authorize")
        def authorize() -> Any:
            person = provider.people.get(request.form.get("username", ""))
            grant = server.get_consent_grant(end_user=person)
            return server.create_authorization_response(grant_user=person, grant=grant)

        @app.post("/token")
        def token() -> Any:
            return server.create_token_response()

        @app.get("/logout")
        def end_session() -> Any:
            hint = request.args.get("id_token_hint", "")
            client_id = request.args.get("client_id", "")
            after = request.args.get("post_logout_redirect_uri", "")
            try:
                claims = jwt.decode(hint, KeySet([provider.key])).claims
            except (JoseError, ValueError):
                return Response("id_token_hint is not an ID token of ours", status=400)
            audience = claims.get("aud")
            audiences = audience if isinstance(audience, list) else [audience]
            client = provider.clients.get(client_id)
            if client is None or client_id not in audiences:
                return Response("client_id is not the ID token's audience", status=400)
            if after not in client.post_logout_redirect_uris:
                return Response("post_logout_redirect_uri is not registered", status=400)
            provider.signed_out.append((str(claims["sub"]), client_id))
            state = request.args.get("state")
            back = f"{after}?{urlencode({'state': state})}" if state else after
            return Response(status=302, headers={"Location": back})

        return app
