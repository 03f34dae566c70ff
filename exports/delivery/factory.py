"""The delivery backend the settings choose (EXPORT_DELIVERY_BACKEND)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from .base import DeliveryBackend
from .box import BoxBackend, BoxSettings
from .local import LocalFolderBackend
from .resume import JsonFileSessionStore


def box_settings() -> BoxSettings:
    jwt_config = (
        Path(settings.BOX_JWT_CONFIG_FILE).read_text() if settings.BOX_AUTH == "jwt" else None
    )
    return BoxSettings(
        parent_folder_id=settings.BOX_PARENT_FOLDER_ID,
        client_id=settings.BOX_CLIENT_ID,
        client_secret=settings.BOX_CLIENT_SECRET,
        enterprise_id=settings.BOX_ENTERPRISE_ID or None,
        jwt_config_json=jwt_config,
        api_url=settings.BOX_API_URL,
        upload_url=settings.BOX_UPLOAD_URL,
        oauth_url=settings.BOX_OAUTH_URL,
        chunked_upload_threshold=settings.BOX_CHUNKED_UPLOAD_BYTES,
    )


def delivery_backend(*, staging: Path | None = None) -> DeliveryBackend:
    """``staging``: where a Box upload keeps its open sessions, so a crash resumes them."""
    if settings.EXPORT_DELIVERY_BACKEND == "box":
        store = JsonFileSessionStore(staging / "box-upload-sessions") if staging else None
        return BoxBackend.from_settings(box_settings(), session_store=store)
    return LocalFolderBackend(settings.EXPORT_LOCAL_DELIVERY_DIR)
