from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _private_media(settings, tmp_path):
    """Uploaded files from a test go to its own folder, never the developer's data directory."""
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def export_dirs(settings, tmp_path) -> Path:
    """The pipeline's folders (staging, delivery) in the test's own folder: for tests that run
    real exports in this process, such as the demo data's."""
    settings.EXPORT_DATA_DIR = tmp_path
    settings.EXPORT_STAGING_DIR = tmp_path / "staging"
    settings.EXPORT_LOCAL_DELIVERY_DIR = tmp_path / "delivery"
    return tmp_path


@pytest.fixture
def pipeline_settings(settings, tmp_path) -> dict[str, str]:
    """Small, fast pipeline settings, applied here and handed to worker processes."""
    values = {
        "EXPORT_STAGING_DIR": str(tmp_path / "staging"),
        "EXPORT_LOCAL_DELIVERY_DIR": str(tmp_path / "delivery"),
        "EXPORT_BATCH_SIZE": "4",
        "EXPORT_STALE_SECONDS": "3",
        "EXPORT_DEMO_LARGE_DOCUMENT_BYTES": "65536",
        "EMAIL_URL": f"filemail:///{tmp_path / 'worker-mail'}",
    }
    for name, value in values.items():
        if name.startswith("EXPORT_"):
            setattr(settings, name, int(value) if value.isdigit() else Path(value))
    return values


@pytest.fixture(autouse=True)
def _every_archived_deliverable_verifies(monkeypatch):
    """Before any test archives a deliverable in this process (the pipeline, the export
    command run in-process), the tree must validate as a Data Package and pass
    ``sha256sum -c``: see ``tests/deliverable_checks.py``."""
    from exports import stages

    archive = stages.run_archive

    def checked_then_archived(packaged, *args, **kwargs):
        from tests.deliverable_checks import assert_deliverable_verifies

        assert_deliverable_verifies(packaged.root)
        return archive(packaged, *args, **kwargs)

    monkeypatch.setattr(stages, "run_archive", checked_then_archived)
