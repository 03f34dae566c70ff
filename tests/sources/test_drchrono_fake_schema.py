"""The fake DrChrono answers in the shapes DrChrono's own OpenAPI document gives.

The document is vendored in ``tests/data/drchrono/`` (about 950 KB; its origin is in
``tests/data/ORIGIN.md``); ``DRCHRONO_OPENAPI`` points elsewhere.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from openapi_schema_validator import OAS30Validator

from exports.ccda.validate import validate_ccda
from tests.fakes.drchrono_server import LIST_ENDPOINTS, FakeDrChrono

REPO_ROOT = Path(__file__).resolve().parents[2]
OPENAPI_PATH = Path(
    os.environ.get(
        "DRCHRONO_OPENAPI", REPO_ROOT / "tests" / "data" / "drchrono" / "drchrono-openapi.yml"
    )
)

#: Queries that make each list answer fully (appointments need a date filter).
QUERIES = {
    "patients": {"show_inactive": "true"},
    "appointments": {"date_range": "2020-01-01/2020-07-01", "verbose": "true"},
}


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    with OPENAPI_PATH.open() as handle:
        return yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeDrChrono]:
    with FakeDrChrono(envelope="data") as server:
        yield server


def item_validator(openapi: dict[str, Any], endpoint: str) -> OAS30Validator:
    """A validator for one item of the endpoint's list, $refs resolved in the document."""
    response = openapi["paths"][f"/api/{endpoint}"]["get"]["responses"]["200"]
    envelope = response["content"]["application/json"]["schema"]
    return OAS30Validator(
        {"components": openapi["components"], **envelope["properties"]["data"]["items"]}
    )


@pytest.mark.parametrize("endpoint", LIST_ENDPOINTS)
def test_list_items_match_the_openapi_schema(openapi, fake, endpoint):
    validator = item_validator(openapi, endpoint)
    response = httpx.get(
        f"{fake.base_url}/api/{endpoint}",
        params=QUERIES.get(endpoint, {}),
        headers={"Authorization": f"Bearer {fake.access_token}"},
    )
    body = response.json()

    assert set(body) == {"previous", "data", "next"}
    # Breaks carry a null patient, which DrChrono documents but its schema does not allow.
    items = [item for item in body["data"] if not item.get("appt_is_break")]
    assert items, f"the fake serves no {endpoint}"
    for item in items:
        errors = [error.message for error in validator.iter_errors(item)]
        assert errors == [], f"{endpoint} {item.get('id')}: {errors}"


def test_the_schema_check_catches_a_wrong_shape(openapi):
    validator = item_validator(openapi, "patients")

    assert not validator.is_valid({"id": "not a number", "gender": "Male", "doctor": 1})


def test_the_fake_c_cdas_pass_the_cda_schema_but_for_the_one_meant_to_fail(fake):
    valid = {
        str(patient["id"]): validate_ccda(
            httpx.get(
                f"{fake.base_url}/api/patients/{patient['id']}/ccda",
                headers={"Authorization": f"Bearer {fake.access_token}"},
            ).content,
            generated=False,
        ).is_valid
        for patient in fake.practice.objects("patients")
    }

    assert valid == {"1": True, "2": True, "3": True, "4": True, "5": False}


def test_the_fake_bulk_list_answers_in_the_openapi_shape(openapi, fake):
    auth = {"Authorization": f"Bearer {fake.access_token}"}
    created = httpx.post(
        f"{fake.base_url}/api/patients_list", params={"page_size": 1000, "page": 1}, headers=auth
    )
    done = httpx.get(
        f"{fake.base_url}/api/patients_list", params={"uuid": created.json()["uuid"]}, headers=auth
    )

    operations = openapi["paths"]["/api/patients_list"]
    created_schema = operations["post"]["responses"]["201"]["content"]["application/json"]
    # patients_list's own answer leaves out the pagination that clinical_notes_list (and
    # DrChrono's bulk endpoints support note) describe for every bulk list.
    described = openapi["paths"]["/api/clinical_notes_list"]["get"]["responses"]["200"]
    done_schema = described["content"]["application/json"]
    assert created.status_code == 201
    assert set(created.json()) <= set(created_schema["schema"]["properties"])
    assert set(done.json()) <= set(done_schema["schema"]["properties"])
    assert done.json()["status"] == "Complete"
    assert set(done.json()["pagination"]) >= {"count", "pages", "page"}
