"""Downloads of documents that name people, each checked and recorded as an audit event."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.core.files import File

from . import permissions
from .models import ExportRequest
from .services import record_event

SIGNED_ADDENDUM_DOWNLOADED = "signed_addendum.downloaded"


def open_signed_addendum(*, export_request_id: int, actor: AbstractBaseUser) -> File | None:
    """The signed addendum, for those who manage the request; None when there is none yet.
    The download is recorded before the file is handed over."""
    export_request = ExportRequest.objects.select_related("practice").get(pk=export_request_id)
    if not export_request.signed_addendum:
        return None
    if not permissions.can_manage_request(actor, export_request):
        raise permissions.refusal(actor, SIGNED_ADDENDUM_DOWNLOADED, export_request_id)
    # Opened first (a file that cannot be read records no download), and outside the event's
    # transaction, so the audit chain's lock is never held across file I/O.
    addendum = export_request.signed_addendum.open("rb")
    try:
        record_event(
            export_request,
            actor=actor,
            action=SIGNED_ADDENDUM_DOWNLOADED,
            from_status=export_request.status,
            details={"file_bytes": export_request.signed_addendum.size},
        )
    except BaseException:
        addendum.close()
        raise
    return addendum
