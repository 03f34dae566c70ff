"""SMART Backend Services: the portal's key pairs and the signed client assertion."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from exports.sources.fhir_bulk.auth import (
    ASSERTION_LIFETIME_SECONDS,
    AuthorizationError,
    BackendServicesAuth,
    client_assertion,
    discover_token_url,
)
from exports.sources.fhir_bulk.keys import ES384, PUBLISHED_PREVIOUS_KEYS, RS384, KeyRing
from exports.sources.records import SourceError
from tests.fakes.fhir_bulk_practice import FhirPractice
from tests.fakes.fhir_bulk_server import CLIENT_ID, FakeBulkServer, WallClock

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def ring() -> KeyRing:
    return KeyRing.create(ES384, now=NOW)


@pytest.fixture
def server(ring) -> Iterator[FakeBulkServer]:
    with FakeBulkServer(FhirPractice(), ring.jwks()) as fake:
        yield fake


def auth_for(server: FakeBulkServer, ring: KeyRing, http: httpx.Client) -> BackendServicesAuth:
    return BackendServicesAuth(
        http,
        fhir_base_url=server.base_url,
        client_id=CLIENT_ID,
        key=ring.current,
        clock=WallClock(),
    )


@pytest.mark.parametrize("algorithm", [ES384, RS384])
def test_an_assertion_is_signed_with_the_current_key_and_lives_five_minutes(algorithm):
    ring = KeyRing.create(algorithm, now=NOW)

    token = client_assertion(ring.current, client_id="c1", token_url="https://ehr/token", now=1e9)

    decoded = jwt.decode(token, KeySet.import_key_set(ring.jwks()), algorithms=[algorithm])
    assert decoded.header == {"alg": algorithm, "kid": ring.current.kid, "typ": "JWT"}
    claims = decoded.claims
    assert claims["iss"] == claims["sub"] == "c1"
    assert claims["aud"] == "https://ehr/token"
    assert claims["exp"] - claims["iat"] == ASSERTION_LIFETIME_SECONDS <= 300


def test_every_assertion_has_its_own_jti(ring):
    def jti() -> str:
        token = client_assertion(ring.current, client_id="c", token_url="https://t", now=1e9)
        return jwt.decode(token, KeySet.import_key_set(ring.jwks()), algorithms=[ES384]).claims[
            "jti"
        ]

    assert len({jti() for _ in range(5)}) == 5


def test_other_algorithms_are_refused():
    with pytest.raises(ValueError, match="ES384 or RS384"):
        KeyRing.create("HS256", now=NOW)


def test_private_keys_are_stored_encrypted_and_come_back_the_same(ring, settings):
    sealed = ring.sealed()

    assert "PRIVATE KEY" not in sealed
    stored = json.loads(sealed)["current"]["private_key"]
    assert ring.current.private_pem not in stored
    assert KeyRing.unsealed(sealed) == ring


def test_the_jwks_publishes_public_keys_only(ring):
    (key,) = ring.jwks()["keys"]

    assert key["kid"] == ring.current.kid and key["alg"] == ES384 and key["use"] == "sig"
    assert "d" not in key  # the private part of an EC (or RSA) key


def test_rotation_makes_a_new_current_key_and_keeps_the_previous_ones_published():
    first = KeyRing.create(RS384, now=NOW)
    ring = first
    for _ in range(PUBLISHED_PREVIOUS_KEYS + 1):
        ring = ring.rotate(now=NOW)

    kids = [key["kid"] for key in ring.jwks()["keys"]]
    assert kids[0] == ring.current.kid != first.current.kid
    assert len(kids) == 1 + PUBLISHED_PREVIOUS_KEYS == len(set(kids))
    assert first.current.kid not in kids  # the oldest has been retired
    assert ring.current.algorithm == RS384
    assert ring.rotate(now=NOW, algorithm=ES384).current.algorithm == ES384


def test_the_token_endpoint_is_discovered_and_accepts_the_signed_assertion(server, ring):
    with httpx.Client() as http:
        auth = auth_for(server, ring, http)
        token = auth.access_token()

        assert discover_token_url(http, server.base_url) == server.token_url
        assert auth.access_token() == token  # reused while valid
    (accepted,) = server.assertions
    assert accepted["header"]["kid"] == ring.current.kid


def test_a_key_the_ehr_has_not_registered_is_refused(server):
    stranger = KeyRing.create(ES384, now=NOW)
    with httpx.Client() as http, pytest.raises(AuthorizationError, match="HTTP 401"):
        auth_for(server, stranger, http).access_token()
    assert server.assertions == []


def test_a_token_the_server_refuses_is_replaced(server, ring):
    with httpx.Client() as http:
        auth = auth_for(server, ring, http)
        first = auth.access_token()
        auth.refused(first)

        assert auth.access_token() != first
    assert server.tokens_issued() == 2


def test_a_server_without_smart_configuration_says_so(server):
    with httpx.Client() as http, pytest.raises(SourceError, match="configuration answered HTTP"):
        discover_token_url(http, server.base_url + "/elsewhere")
