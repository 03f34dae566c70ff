"""The people around one request, and requests in any state, for the request tests."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from requests_app import services
from requests_app.demo import signed_addendum_pdf
from requests_app.models import ExportRequest, Status
from tests import factories

# States the factories do not reach directly: held while claimed, cancelled from draft.
HELD = "on_hold (from claimed)"


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
        return cls(
            manager=factories.account_manager(),
            other_manager=factories.account_manager(),
            claimant=factories.data_member(),
            data=factories.data_member(),
            admin=factories.admin(),
        )

    def request(self, status: str, *, own: bool = True) -> ExportRequest:
        """A request in ``status``: managed by ``manager`` and claimed by ``claimant`` when
        ``own``, else by ``other_manager`` and ``data``."""
        manager = self.manager if own else self.other_manager
        claimant = self.claimant if own else self.data
        practice = factories.practice(manager)
        if status == HELD:
            r = factories.export_request(
                status=Status.CLAIMED, practice_=practice, claimed_by=claimant
            )
            services.export_request_hold(export_request_id=r.pk, actor=manager, reason="Paused")
        elif status == Status.CANCELLED:
            r = factories.export_request(practice_=practice)
            services.export_request_cancel(export_request_id=r.pk, actor=manager, reason="Gone")
        else:
            return factories.export_request(status=status, practice_=practice, claimed_by=claimant)
        return ExportRequest.objects.get(pk=r.pk)


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
    }
    return data.get(action, {})
