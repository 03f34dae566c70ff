"""The pipeline's buttons on the request page: the data team's source and run controls.

They are ``RequestAction``\\ s registered with requests_app (see ``ExportsConfig.ready``), so
they post through the request page's checked view and call the services here.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from django.conf import settings

from exports import connections, pipeline
from exports.forms import ApproveDeliveryForm, DemoSourceForm, DrChronoSourceForm
from exports.models import SourceConnection
from requests_app import permissions
from requests_app.actions import RequestAction
from requests_app.forms import NoInputForm, ReasonForm
from requests_app.models import ExportRequest, Status


def _status(*statuses: str):
    return lambda export_request: export_request.status in statuses


def _has_source(export_request: ExportRequest) -> bool:
    return SourceConnection.objects.filter(request=export_request).exists()


def _awaiting_review(export_request: ExportRequest) -> bool:
    return export_request.status == Status.AWAITING_REVIEW


def _test_connection(export_request: ExportRequest, user, data):
    # The test reads only a little (a patient count), into a throwaway folder.
    with tempfile.TemporaryDirectory(dir=_staging_root()) as spool:
        connections.source_test_connection(
            export_request_id=export_request.pk, actor=user, spool_dir=Path(spool)
        )
    return export_request


def _staging_root() -> Path:
    return pipeline.make_private_dir(Path(settings.EXPORT_STAGING_DIR))


PIPELINE_ACTIONS: tuple[RequestAction, ...] = (
    RequestAction(
        slug="connect-demo",
        label="Use a demo practice",
        may=permissions.can_operate_request,
        applies=_status(*connections.CONNECTABLE),
        form_class=DemoSourceForm,
        perform=lambda r, user, data: connections.source_connect_demo(
            export_request_id=r.pk, actor=user, patients=data["patients"], seed=data["seed"]
        ),
        done="The demo practice is attached.",
    ),
    RequestAction(
        slug="connect-drchrono",
        label="Connect DrChrono",
        may=permissions.can_operate_request,
        applies=_status(*connections.CONNECTABLE),
        form_class=DrChronoSourceForm,
        perform=lambda r, user, data: connections.source_connect_drchrono(
            export_request_id=r.pk, actor=user, **data
        ),
        done="DrChrono is connected. Its secrets are stored encrypted and will not be shown again.",
    ),
    RequestAction(
        slug="test-connection",
        label="Test the connection",
        may=permissions.can_operate_request,
        applies=lambda r: _status(*connections.CONNECTABLE)(r) and _has_source(r),
        form_class=NoInputForm,
        perform=_test_connection,
        done="Connection tested: see the result under Data source.",
    ),
    RequestAction(
        slug="start-extraction",
        label="Start the export",
        may=permissions.can_operate_request,
        applies=lambda r: r.status == Status.CLAIMED and _has_source(r),
        form_class=NoInputForm,
        perform=lambda r, user, data: pipeline.pipeline_start(export_request_id=r.pk, actor=user),
        done="The export has started.",
    ),
    RequestAction(
        slug="approve-delivery",
        label="Approve and deliver",
        may=permissions.can_operate_request,
        applies=_awaiting_review,
        form_class=ApproveDeliveryForm,
        perform=lambda r, user, data: pipeline.pipeline_approve(
            export_request_id=r.pk, actor=user, acknowledge_failures=data["acknowledge_failures"]
        ),
        done="Approved: the archive is being uploaded.",
    ),
    RequestAction(
        slug="reject-export",
        label="Reject this export",
        may=permissions.can_operate_request,
        applies=_awaiting_review,
        form_class=ReasonForm,
        perform=lambda r, user, data: pipeline.pipeline_reject(
            export_request_id=r.pk, actor=user, reason=data["reason"]
        ),
        done="The export was discarded; the request is yours to run again.",
        danger=True,
    ),
    RequestAction(
        slug="retry-pipeline",
        label="Retry the failed stage",
        may=permissions.can_operate_request,
        applies=_status(Status.FAILED),
        form_class=NoInputForm,
        perform=lambda r, user, data: pipeline.pipeline_retry(export_request_id=r.pk, actor=user),
        done="Retrying: finished work is kept.",
    ),
    RequestAction(
        slug="stop-pipeline",
        label="Stop and discard this run",
        may=permissions.can_operate_request,
        applies=_status(Status.EXTRACTING, Status.PACKAGING, Status.AWAITING_REVIEW, Status.FAILED),
        form_class=ReasonForm,
        perform=lambda r, user, data: pipeline.pipeline_stop(
            export_request_id=r.pk, actor=user, reason=data["reason"]
        ),
        done="The run is stopped and its files removed.",
        danger=True,
    ),
)


def available_to(user, export_request: ExportRequest) -> list[RequestAction]:
    return [
        a for a in PIPELINE_ACTIONS if a.applies(export_request) and a.may(user, export_request)
    ]
