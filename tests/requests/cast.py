"""The people around one request, and requests in any state, for the request tests."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from django.db import transaction

from exports import connections, pipeline, smart_keys
from exports.models import ExportJob
from requests_app import services
from requests_app.demo import signed_addendum_pdf
from requests_app.models import ExportRequest, Status
from requests_app.selectors import data_team_members
from tests import factories
from tests.lifecycle.lifecycle_builders import uploading_job

# Two states with no Status of their own: held while claimed, and claimed with a data source
# attached. ``Cast.request`` also reaches what the factories do not: cancelled (from draft),
# the pipeline's states and delivered.
HELD = "on_hold (from claimed)"
CONNECTED = "claimed (with a demo source that passed its connection test)"
PIPELINE = (Status.EXTRACTING, Status.AWAITING_REVIEW, Status.FAILED)


@dataclass
class Cast:
    """An account manager and a data-team member who own the request (own), two who do not
    (other), and an admin."""

    manager: object
    other_manager: object
    claimant: object
    data: object
    admin: object

    @classmethod
    def create(cls) -> Cast:
        admin = factories.admin()
        # The portal's FHIR signing key: a FHIR Bulk source can be attached only once it exists.
        smart_keys.signing_keys_create(actor=admin)
        return cls(
            manager=factories.account_manager(),
            other_manager=factories.account_manager(),
            claimant=factories.data_member(),
            data=factories.data_member(),
            admin=admin,
        )

    def request(self, status: str, *, own: bool = True) -> ExportRequest:
        """A request in ``status``: managed by ``manager`` and claimed by ``claimant`` when
        ``own``, else by ``other_manager`` and ``data``."""
        manager = self.manager if own else self.other_manager
        claimant = self.claimant if own else self.data
        if status == Status.DELIVERED:
            job = uploading_job(manager=manager, claimed_by=claimant)
            assert pipeline.job_deliver(job.pk)
            return ExportRequest.objects.get(pk=job.request_id)
        practice = factories.practice(manager)
        if status == HELD:
            r = factories.export_request(
                status=Status.CLAIMED, practice_=practice, claimed_by=claimant
            )
            services.export_request_hold(export_request_id=r.pk, actor=manager, reason="Paused")
        elif status == Status.CANCELLED:
            r = factories.export_request(practice_=practice)
            services.export_request_cancel(export_request_id=r.pk, actor=manager, reason="Gone")
        elif status in (CONNECTED, *PIPELINE):
            r = factories.export_request(
                status=Status.CLAIMED, practice_=practice, claimed_by=claimant
            )
            connections.source_connect_demo(
                export_request_id=r.pk, actor=claimant, patients=10, seed=1
            )
            factories.pass_connection_test(r, claimant)
            if status in PIPELINE:
                _run_pipeline_to(status, r, claimant)
        else:
            return factories.export_request(status=status, practice_=practice, claimed_by=claimant)
        return ExportRequest.objects.get(pk=r.pk)


def _run_pipeline_to(status: str, export_request: ExportRequest, claimant) -> None:
    """Start the export; then stop where ``status`` says, as the workers would have."""
    job = pipeline.pipeline_start(export_request_id=export_request.pk, actor=claimant)
    if status == Status.FAILED:
        pipeline.pipeline_fail(job.pk, message="The source stopped answering.")
    elif status == Status.AWAITING_REVIEW:
        with transaction.atomic():
            for method, action in (
                ("start_packaging", "pipeline.extracted"),
                ("finish_packaging", "pipeline.packaged"),
            ):
                services.transition_request(
                    export_request.pk, actor=None, method=method, action=action
                )
        manifest = Path(job.staging_dir) / "tree" / "manifest.csv"
        manifest.parent.mkdir(parents=True)
        manifest.write_text("Path,Bytes,SHA-256\n")
        ExportJob.objects.filter(pk=job.pk).update(
            reconciliation={"is_balanced": True, "lines": []},
            manifest={"path": str(manifest), "files": 0, "bytes": 0, "sha256": "0" * 64},
        )


def perform(action: str, export_request: ExportRequest, actor) -> ExportRequest:
    """Call the service behind ``action`` with valid input."""
    pk = export_request.pk
    steps = {
        "send-addendum": lambda: services.export_request_send_addendum(
            export_request_id=pk, actor=actor
        ),
        "signed-addendum": lambda: services.export_request_record_signed_addendum(
            export_request_id=pk, actor=actor, signed_addendum=signed_addendum_pdf("P")
        ),
        "fee": lambda: services.export_request_record_fee(
            export_request_id=pk, actor=actor, amount=Decimal("900"), invoice_reference="INV-9"
        ),
        "claim": lambda: services.export_request_claim(export_request_id=pk, actor=actor),
        "release": lambda: services.export_request_release(export_request_id=pk, actor=actor),
        "hold": lambda: services.export_request_hold(
            export_request_id=pk, actor=actor, reason="Waiting for the practice"
        ),
        "resume": lambda: services.export_request_resume(export_request_id=pk, actor=actor),
        "cancel": lambda: services.export_request_cancel(
            export_request_id=pk, actor=actor, reason="The practice withdrew"
        ),
        "extend": lambda: services.export_request_grant_extension(
            export_request_id=pk, actor=actor, days=14, reason="Custom requirement"
        ),
    }
    return steps[action]()


def form_data(action: str) -> dict:
    """Valid POST data for the action's form on the request page."""
    data = {
        "send-addendum": {"send-addendum-note": ""},
        "signed-addendum": {"signed-addendum-signed_addendum": signed_addendum_pdf("P")},
        "fee": {"fee-amount": "900", "fee-currency": "USD", "fee-invoice_reference": "INV-9"},
        "release": {"release-note": ""},
        "hold": {"hold-reason": "Waiting for the practice"},
        "cancel": {"cancel-reason": "The practice withdrew"},
        "extend": {"extend-days": "14", "extend-reason": "Custom requirement"},
        "connect-demo": {"connect-demo-patients": "10", "connect-demo-seed": "7"},
        "connect-fhir-bulk": {
            "connect-fhir-bulk-base_url": "https://ehr.example/fhir/r4",
            "connect-fhir-bulk-client_id": "portal-client",
            "connect-fhir-bulk-group_id": "practice-group",
        },
        "connect-drchrono": {
            "connect-drchrono-client_id": "client-abc",
            "connect-drchrono-client_secret": "client-secret",
            "connect-drchrono-access_token": "access-token",
            "connect-drchrono-refresh_token": "refresh-token",
            "connect-drchrono-expires_at": "2100-01-01 00:00",
        },
        "reject-export": {"reject-export-reason": "The workbook is missing a sheet"},
        "stop-pipeline": {"stop-pipeline-reason": "Wrong source"},
    }
    if action == "assign-owner":  # a data-team member of the cast, made before the POST
        return {"assign-owner-owner": str(data_team_members().first().pk)}
    return data.get(action, {})
