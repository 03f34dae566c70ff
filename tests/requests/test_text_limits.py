"""Free text is bounded, in the form and in the model, and names shown to people carry no
control or text-direction override characters."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from requests_app import services
from requests_app.models import ExportRequest, Status
from requests_app.text_rules import REQUIREMENTS_MAX_LENGTH
from tests import factories
from tests.requests.test_request_bad_input import filing_data, post_action

pytestmark = pytest.mark.django_db

RIGHT_TO_LEFT_OVERRIDE = "\u202e"
ONE_MEGABYTE = "x" * 1_000_000


def file_as_manager(client, practice, **fields):
    factories.sign_in(client, practice.account_manager)
    return client.post(reverse("requests_app:file"), filing_data(practice, **fields))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("custom_requirements", ONE_MEGABYTE),
        ("custom_requirements", "x" * (REQUIREMENTS_MAX_LENGTH + 1)),
        ("poc_name", "x" * 201),
        ("poc_name", f"Jordan {RIGHT_TO_LEFT_OVERRIDE}sexeR"),
        ("poc_name", "Jordan\nReyes"),
        ("poc_phone", "+1 555\x000100"),
        ("custom_requirements", f"Include the {RIGHT_TO_LEFT_OVERRIDE}fdp.exe notes"),
        ("custom_requirements", "Scanned charts \u2066too\u2069"),
    ],
    ids=[
        "1 MB requirements",
        "requirements one too long",
        "long name",
        "override in a name",
        "line break in a name",
        "NUL in a phone number",
        "override in requirements",
        "isolate in requirements",
    ],
)
def test_the_filing_form_refuses_and_stores_nothing(client, field, value):
    practice = factories.practice()
    response = file_as_manager(client, practice, **{field: value})
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert not ExportRequest.objects.exists()


def test_requirements_may_run_over_several_lines_within_the_limit(client):
    practice = factories.practice()
    text = "Include scanned charts.\r\nAnd the\tfax archive." + "x" * 3900
    response = file_as_manager(client, practice, custom_requirements=text)
    assert response.status_code == 302
    assert ExportRequest.objects.get().custom_requirements == text


def test_right_to_left_names_keep_their_direction_marks(client):
    practice = factories.practice()
    name = "\u200fيوسف\u200f Haddad"
    assert file_as_manager(client, practice, poc_name=name).status_code == 302
    assert ExportRequest.objects.get().poc_name == name


def test_the_model_refuses_what_the_form_would_past_the_form():
    practice = factories.practice()
    with pytest.raises(ValidationError) as refused:
        services.export_request_file(
            actor=practice.account_manager,
            practice=practice,
            poc_name="Jordan Reyes",
            poc_email="jordan@example.org",
            categories=["demographics"],
            custom_requirements=ONE_MEGABYTE,
        )
    assert "custom_requirements" in refused.value.message_dict
    assert not ExportRequest.objects.exists()


def test_a_practice_name_with_an_override_is_refused():
    with pytest.raises(ValidationError) as refused:
        factories.practice(name=f"Maple {RIGHT_TO_LEFT_OVERRIDE}evorG")
    assert "name" in refused.value.message_dict


@pytest.mark.parametrize(
    ("action", "data"),
    [
        ("hold", {"hold-reason": "x" * 2001}),
        ("hold", {"hold-reason": f"Waiting {RIGHT_TO_LEFT_OVERRIDE}"}),
        ("fee", {"fee-amount": "900", "fee-currency": "USD", "fee-invoice_reference": "INV\x1b9"}),
    ],
    ids=["long reason", "override in a reason", "escape in an invoice reference"],
)
def test_step_forms_refuse_and_change_nothing(client, action, data):
    r = factories.export_request(status=Status.ADDENDUM_SENT)
    post_action(client, r, action, data)
    assert ExportRequest.objects.get(pk=r.pk).status == Status.ADDENDUM_SENT


@pytest.mark.django_db(transaction=True)
def test_the_migration_takes_override_characters_out_of_stored_text():
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before, after = [("requests_app", "0001_initial")], [("requests_app", "0002_trust_text_limits")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    manager = old.get_model("auth", "User").objects.create(username="mover")
    practice = old.get_model("requests_app", "Practice").objects.create(
        name=f"Maple {RIGHT_TO_LEFT_OVERRIDE}evorG",
        ehr_practice_id="DRC-1",
        account_manager=manager,
    )
    old.get_model("requests_app", "ExportRequest").objects.create(
        practice=practice,
        created_by=manager,
        poc_name=f"Jordan\x1b[2J {RIGHT_TO_LEFT_OVERRIDE}Reyes",
        poc_email="jordan@example.org",
        custom_requirements="Line one\r\nLine\ttwo \u2066isolated\u2069",
    )

    executor = MigrationExecutor(connection)
    executor.migrate(after)
    # The app's newest migrations too, so the tests after this one find the schema they expect.
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes("requests_app"))

    stored = ExportRequest.objects.select_related("practice").get()
    assert stored.practice.name == "Maple evorG"
    assert stored.poc_name == "Jordan[2J Reyes"
    assert stored.custom_requirements == "Line one\r\nLine\ttwo isolated"
