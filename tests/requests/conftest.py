import pytest


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    """Factories set real passwords; a fast hasher keeps these tests quick."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
