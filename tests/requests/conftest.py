import pytest


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    """Factories set real passwords; a fast hasher keeps these tests quick."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _private_folders(settings, tmp_path):
    """Staging and deliveries of the pipeline states a test builds stay in its own folder."""
    settings.EXPORT_STAGING_DIR = tmp_path / "staging"
    settings.EXPORT_LOCAL_DELIVERY_DIR = tmp_path / "delivery"
    settings.EXPORT_DELIVERY_BACKEND = "local"
