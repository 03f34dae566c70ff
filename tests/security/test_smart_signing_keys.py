"""The portal's SMART signing keys: an admin creates and rotates them from the portal; the
public JWKS is published without sign-in and holds no private key material."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from exports import smart_keys
from exports.models import SmartKeyRing
from exports.sources.fhir_bulk.keys import ES384, RS384
from requests_app.audit_chain import verify_chain
from requests_app.models import RequestEvent
from tests.factories import account_manager, admin, data_member, sign_in

pytestmark = pytest.mark.django_db

KEYS_URL = reverse("exports:smart-keys")
JWKS_URL = reverse("exports:smart-jwks")
#: JWK members that carry private key material (RFC 7518 §6.2.2 and §6.3.2)
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


def jwks(client) -> dict:
    response = client.get(JWKS_URL)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    return json.loads(response.content)


def test_an_admin_creates_then_rotates_the_signing_key_from_the_page(client):
    sign_in(client, admin())
    page = client.get(KEYS_URL).content.decode()
    assert "Create the signing key" in page and JWKS_URL in page

    client.post(KEYS_URL, {"algorithm": ES384})
    first = smart_keys.portal_key_ring().current
    assert first.algorithm == ES384
    page = client.get(KEYS_URL).content.decode()
    assert first.kid in page and "Rotate the signing key" in page

    client.post(KEYS_URL, {"algorithm": RS384})
    ring = smart_keys.portal_key_ring()
    assert ring.current.algorithm == RS384 and ring.current.kid != first.kid
    assert [key.kid for key in ring.previous] == [first.kid]  # still published
    assert [key["kid"] for key in jwks(client)["keys"]] == [ring.current.kid, first.kid]
    assert SmartKeyRing.objects.count() == 1


def test_the_keys_page_never_shows_a_private_key(client):
    sign_in(client, admin())
    client.post(KEYS_URL, {"algorithm": RS384})
    page = client.get(KEYS_URL).content.decode()
    assert "PRIVATE KEY" not in page
    assert smart_keys.portal_key_ring().current.private_pem not in page


def test_the_jwks_is_public_and_holds_only_public_key_material(client):
    ring = smart_keys.signing_keys_create(actor=admin(), algorithm=ES384)
    smart_keys.signing_keys_rotate(actor=admin(), algorithm=RS384)

    published = jwks(client)  # no one signed in

    assert len(published["keys"]) == 2
    for key in published["keys"]:
        assert not PRIVATE_MEMBERS & set(key), key
        assert key["use"] == "sig" and key["alg"] in (ES384, RS384)
    assert ring.current.kid in {key["kid"] for key in published["keys"]}


def test_before_any_key_the_jwks_is_empty(client):
    assert jwks(client) == {"keys": []}


@pytest.mark.parametrize("who", [data_member, account_manager])
def test_only_admins_manage_the_signing_keys(client, who):
    sign_in(client, who())
    assert client.get(KEYS_URL).status_code == 403
    assert client.post(KEYS_URL, {"algorithm": ES384}).status_code == 403
    assert not SmartKeyRing.objects.exists()


def test_the_services_refuse_anyone_but_an_admin():
    with pytest.raises(PermissionDenied):
        smart_keys.signing_keys_create(actor=data_member())
    smart_keys.signing_keys_create(actor=admin())
    before = SmartKeyRing.objects.get().key_ring
    with pytest.raises(PermissionDenied):
        smart_keys.signing_keys_rotate(actor=data_member())
    assert SmartKeyRing.objects.get().key_ring == before


def test_signed_out_people_are_sent_to_sign_in_from_the_keys_page(client):
    response = client.get(KEYS_URL)
    assert response.status_code == 302 and "login" in response["Location"]


def test_creating_and_rotating_the_key_are_on_the_audit_page_in_words(client):
    boss = admin()
    sign_in(client, boss)
    client.post(KEYS_URL, {"algorithm": ES384})
    first = smart_keys.portal_key_ring().current
    client.post(KEYS_URL, {"algorithm": RS384})
    current = smart_keys.portal_key_ring().current

    created, rotated = (
        RequestEvent.objects.get(action=action)
        for action in ("smart_keys.created", "smart_keys.rotated")
    )
    assert (created.request, created.actor, created.details["kid"]) == (None, boss, first.kid)
    assert (rotated.details["kid"], rotated.details["algorithm"]) == (current.kid, RS384)
    assert "PRIVATE" not in json.dumps(rotated.details)
    page = client.get(reverse("requests_app:audit")).content.decode()
    assert "The portal&#x27;s SMART signing key rotated" in page
    assert "The portal&#x27;s SMART signing key created" in page and current.kid in page
    assert verify_chain().intact  # on the same keyed chain as every request's events
