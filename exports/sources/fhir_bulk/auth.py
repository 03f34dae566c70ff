"""SMART Backend Services authorization: a signed client assertion for an access token.

The token endpoint is discovered from the FHIR server's ``.well-known/smart-configuration``.
Each token request carries a fresh client assertion (a JWT signed with the portal's current
key, ``kid`` in its header, a unique ``jti``, valid five minutes at most); the server checks
it against the JWKS registered for the client id. There is no refresh token: an expired
access token is replaced by asking again.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

import httpx
from joserfc import jwt

from ..drchrono.budget import Clock
from ..records import SourceError, TransientSourceError
from .keys import SigningKey

logger = logging.getLogger(__name__)

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: the longest a client assertion may live (SMART Backend Services: no more than five minutes)
ASSERTION_LIFETIME_SECONDS = 300
#: an access token this close to its expiry is renewed before use
EXPIRY_MARGIN_SECONDS = 30
DEFAULT_SCOPE = "system/*.read"


class AuthorizationError(SourceError):
    """The EHR refused the portal's credentials (unknown client, key not registered, ...)."""


@dataclass(frozen=True, slots=True)
class AccessToken:
    value: str
    expires_at: float  # seconds since the epoch


def client_assertion(key: SigningKey, *, client_id: str, token_url: str, now: float) -> str:
    """The signed JWT that authenticates the portal at ``token_url``."""
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": token_url,
        "jti": uuid.uuid4().hex,
        "iat": int(now),
        "exp": int(now) + ASSERTION_LIFETIME_SECONDS,
    }
    header = {"alg": key.algorithm, "kid": key.kid, "typ": "JWT"}
    return jwt.encode(header, claims, key.jose_key(), algorithms=[key.algorithm])


def discover_token_url(http: httpx.Client, fhir_base_url: str) -> str:
    """The token endpoint the FHIR server announces in its SMART configuration."""
    url = f"{fhir_base_url.rstrip('/')}/.well-known/smart-configuration"
    try:
        response = http.get(url, headers={"Accept": "application/json"})
    except httpx.TransportError as exc:
        raise TransientSourceError(
            f"the SMART configuration could not be fetched ({type(exc).__name__})"
        ) from None
    if response.status_code != 200:
        raise SourceError(f"the SMART configuration answered HTTP {response.status_code}")
    try:
        token_url = response.json()["token_endpoint"]
    except (ValueError, KeyError, TypeError):
        raise SourceError("the SMART configuration names no token endpoint") from None
    if not isinstance(token_url, str) or not token_url.startswith(("https://", "http://")):
        raise SourceError("the SMART configuration's token endpoint is not a URL")
    return token_url


class BackendServicesAuth:
    """Access tokens for one registered client, asked for when needed and reused until
    they expire (or the server says they have)."""

    def __init__(
        self,
        http: httpx.Client,
        *,
        fhir_base_url: str,
        client_id: str,
        key: SigningKey,
        clock: Clock,
        scope: str = DEFAULT_SCOPE,
    ) -> None:
        self._http = http
        self._fhir_base_url = fhir_base_url
        self._client_id = client_id
        self._key = key
        self._clock = clock
        self._scope = scope
        self._token_url: str | None = None
        self._token: AccessToken | None = None

    @property
    def token_url(self) -> str:
        if self._token_url is None:
            self._token_url = discover_token_url(self._http, self._fhir_base_url)
        return self._token_url

    def access_token(self) -> str:
        """A token good for at least ``EXPIRY_MARGIN_SECONDS`` more."""
        token = self._token
        if token is None or token.expires_at - EXPIRY_MARGIN_SECONDS <= self._clock.time():
            token = self._token = self._request_token()
        return token.value

    def refused(self, token: str) -> None:
        """The server answered 401 to ``token``: the next request asks for a new one."""
        if self._token is not None and self._token.value == token:
            self._token = None

    def _request_token(self) -> AccessToken:
        now = self._clock.time()
        assertion = client_assertion(
            self._key, client_id=self._client_id, token_url=self.token_url, now=now
        )
        try:
            response = self._http.post(
                self.token_url,
                data={
                    "grant_type": "client_credentials",
                    "scope": self._scope,
                    "client_assertion_type": CLIENT_ASSERTION_TYPE,
                    "client_assertion": assertion,
                },
                headers={"Accept": "application/json"},
            )
        except httpx.TransportError as exc:
            raise TransientSourceError(
                f"the token endpoint could not be reached ({type(exc).__name__})"
            ) from None
        if response.status_code in (400, 401, 403):
            raise AuthorizationError(
                f"the EHR refused the portal's client assertion (HTTP {response.status_code}"
                f"{_oauth_error(response)}); check the client id and the registered JWKS"
            )
        if response.status_code != 200:
            raise TransientSourceError(f"the token endpoint answered HTTP {response.status_code}")
        try:
            body = response.json()
            value = body["access_token"]
            expires_in = float(body.get("expires_in", ASSERTION_LIFETIME_SECONDS))
        except (ValueError, KeyError, TypeError):
            raise SourceError("the token endpoint's answer holds no access token") from None
        if not isinstance(value, str) or not value:
            raise SourceError("the token endpoint's answer holds no access token")
        logger.info("SMART Backend Services access token obtained (%d s)", expires_in)
        return AccessToken(value=value, expires_at=now + expires_in)


def _oauth_error(response: httpx.Response) -> str:
    """The OAuth error code (never its free-text description) for the message."""
    try:
        code = response.json().get("error")
    except (ValueError, AttributeError):
        return ""
    return f", {code}" if isinstance(code, str) and code.isascii() and len(code) < 40 else ""
