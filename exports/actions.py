"""The pipeline's buttons on the request page: the data team's source and run controls.

They are ``RequestAction``\\ s registered with requests_app (see ``ExportsConfig.ready``), so
``requests_app.selectors.actions_for`` offers them with every other step, they post through the
request page's checked view, and they call the pipeline's commands. Each run control's rule is
its request transition's; attaching a source has ``connections.CONNECT_SOURCE``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from django.conf import settings

from exports import connections, pipeline
from exports.forms import (
    ApproveDeliveryForm,
    DemoSourceForm,
    DrChronoSourceForm,
    FhirBulkSourceForm,
)
from exports.selectors import has_source, source_passed_test
from requests_app.actions import RequestAction
from requests_app.forms import NoInputForm, ReasonForm
from requests_app.models import ExportRequest
from requests_app.permissions import Rule, transition_rule
from requests_app.services import RequestActionError


def _with_source(rule: Rule) -> Rule:
    """The rule, once the request has a data source attached."""
    return Rule(may=rule.may, applies=lambda r: rule.applies(r) and has_source(r))


def _with_passing_test(rule: Rule) -> Rule:
    """The rule, once the source as attached now has passed its connection test (the same
    condition ``pipeline_start`` enforces under the row lock)."""
    return Rule(may=rule.may, applies=lambda r: rule.applies(r) and source_passed_test(r))


def _test_connection(export_request: ExportRequest, user, data):
    # The test reads only a little (a patient count), into a throwaway folder.
    with tempfile.TemporaryDirectory(dir=_staging_root()) as spool:
        tested = connections.source_test_connection(
            export_request_id=export_request.pk, actor=user, spool_dir=Path(spool)
        )
    if not tested.last_test_ok:
        # Recorded on the card and in History; told as the failure it is, not as "done".
        raise RequestActionError(
            f"The connection test failed: {tested.last_test_detail or 'no detail given'}. "
            "Fix the source and test again; the export can start once a test passes."
        )
    return export_request


def _staging_root() -> Path:
    return pipeline.make_private_dir(Path(settings.EXPORT_STAGING_DIR))


PIPELINE_ACTIONS: tuple[RequestAction, ...] = (
    RequestAction(
        slug="connect-demo",
        label="Use a demo practice",
        rule=connections.CONNECT_SOURCE,
        form_class=DemoSourceForm,
        perform=lambda r, user, data: connections.source_connect_demo(
            export_request_id=r.pk, actor=user, patients=data["patients"], seed=data["seed"]
        ),
        done="The demo practice is attached. Test the connection before starting.",
        on_pipeline_card=True,
    ),
    RequestAction(
        slug="connect-drchrono",
        label="Connect DrChrono",
        rule=connections.CONNECT_SOURCE,
        form_class=DrChronoSourceForm,
        perform=lambda r, user, data: connections.source_connect_drchrono(
            export_request_id=r.pk, actor=user, **data
        ),
        done=(
            "DrChrono's credentials are saved (encrypted; they will not be shown again). "
            "Test the connection before starting."
        ),
        on_pipeline_card=True,
    ),
    RequestAction(
        slug="connect-fhir-bulk",
        label="Connect FHIR Bulk Data",
        rule=connections.CONNECT_SOURCE,
        form_class=FhirBulkSourceForm,
        perform=lambda r, user, data: connections.source_connect_fhir_bulk(
            export_request_id=r.pk, actor=user, **data
        ),
        done="The FHIR server is attached: test the connection to see what it holds.",
        on_pipeline_card=True,
    ),
    RequestAction(
        slug="test-connection",
        label="Test the connection",
        rule=_with_source(connections.CONNECT_SOURCE),
        form_class=NoInputForm,
        perform=_test_connection,
        done="The connection test passed: see under Data source what the source sees.",
        on_pipeline_card=True,
    ),
    RequestAction(
        slug="start-extraction",
        label="Start the export",
        rule=_with_passing_test(transition_rule("start_extraction")),
        form_class=NoInputForm,
        perform=lambda r, user, data: pipeline.pipeline_start(export_request_id=r.pk, actor=user),
        done="The export has started.",
        on_pipeline_card=True,
    ),
    RequestAction(
        slug="approve-delivery",
        label="Approve and deliver",
        rule=transition_rule("approve"),
        form_class=ApproveDeliveryForm,
        perform=lambda r, user, data: pipeline.pipeline_approve(
            export_request_id=r.pk, actor=user, acknowledge_failures=data["acknowledge_failures"]
        ),
        done="Approved: the archive is being uploaded.",
        on_pipeline_card=True,
    ),
    RequestAction(
        slug="reject-export",
        label="Reject this export",
        rule=transition_rule("reject"),
        form_class=ReasonForm,
        perform=lambda r, user, data: pipeline.pipeline_reject(
            export_request_id=r.pk, actor=user, reason=data["reason"]
        ),
        done="The export was discarded; the request is yours to run again.",
        danger=True,
        on_pipeline_card=True,
    ),
    RequestAction(
        slug="retry-pipeline",
        label="Retry the failed stage",
        rule=transition_rule("retry"),
        form_class=NoInputForm,
        perform=lambda r, user, data: pipeline.pipeline_retry(export_request_id=r.pk, actor=user),
        done="Retrying: finished work is kept.",
        on_pipeline_card=True,
    ),
    RequestAction(
        slug="stop-pipeline",
        label="Stop and discard this run",
        rule=transition_rule("stop_pipeline"),
        form_class=ReasonForm,
        perform=lambda r, user, data: pipeline.pipeline_stop(
            export_request_id=r.pk, actor=user, reason=data["reason"]
        ),
        done="The run is stopped and its files removed.",
        danger=True,
        on_pipeline_card=True,
    ),
)
