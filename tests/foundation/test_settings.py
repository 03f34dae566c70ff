"""Settings come from the environment; a bad value stops start-up naming the variable."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

ROOT = Path(__file__).resolve().parents[2]
SETTINGS_FILE = ROOT / "exportportal" / "settings.py"
PRODUCTION_SECRET = "p" * 60
AUDIT_KEY = "a" * 48
PRODUCTION = {
    "DJANGO_ENV": "production",
    "SECRET_KEY": PRODUCTION_SECRET,
    "AUDIT_CHAIN_KEYS": AUDIT_KEY,
}
VARIABLES = [
    "DJANGO_ENV", "DJANGO_DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL",
    "CELERY_BROKER_URL", "EXPORT_DATA_DIR", "EXPORT_STAGING_DIR", "EXPORT_DELIVERY_BACKEND",
    "EXPORT_LOCAL_DELIVERY_DIR", "EXPORT_ARCHIVE_PART_BYTES", "EXPORT_ACCESS_DAYS", "BOX_AUTH",
    "BOX_CLIENT_ID", "BOX_CLIENT_SECRET", "BOX_ENTERPRISE_ID", "BOX_JWT_CONFIG_FILE", "EMAIL_URL",
    "LOG_LEVEL", "SESSION_IDLE_SECONDS", "STATIC_ROOT", "FIELD_ENCRYPTION_KEYS",
    "CELERY_VISIBILITY_TIMEOUT", "CELERY_TASK_SOFT_TIME_LIMIT", "AUDIT_CHAIN_KEYS",
    "AUDIT_CHECKPOINT_FILE",
]  # fmt: skip
FERNET_KEY = "2HSjWgA_56xuY7mGasz2bse4abX8TyDvx5tqJLMhI6g="
OLDER_FERNET_KEY = "b8ZgxexvS23KHemeYjjModYYk8sE_G_aaXI9bd6z8dE="


@pytest.fixture
def load_settings(monkeypatch, tmp_path):
    """Evaluate settings.py afresh under the given environment, as a starting process would."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("EXPORT_DATA_DIR", str(tmp_path / "data"))

    def load(**env: str):
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        spec = importlib.util.spec_from_file_location("exportportal._settings_probe", SETTINGS_FILE)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load


def test_defaults_need_no_server(load_settings, tmp_path):
    s = load_settings()
    data = tmp_path / "data"
    assert s.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
    assert s.DATABASES["default"]["NAME"] == str(data / "portal.sqlite3")
    assert s.CELERY_BROKER_URL == "filesystem://"
    assert s.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"] == str(data / "broker" / "queue")
    assert s.EXPORT_STAGING_DIR == data / "staging"
    assert s.EXPORT_DELIVERY_BACKEND == "local"
    assert s.EXPORT_LOCAL_DELIVERY_DIR == data / "delivery"
    assert s.DEBUG is False, "debug pages only where asked for (make run)"
    assert data.is_dir() and (data.stat().st_mode & 0o777) == 0o700


def test_database_url_switches_to_postgresql(load_settings):
    s = load_settings(DATABASE_URL="postgres://portal:secret@db.internal:5432/exportportal")
    db = s.DATABASES["default"]
    assert (db["ENGINE"], db["NAME"], db["HOST"], db["PORT"], db["USER"]) == (
        "django.db.backends.postgresql", "exportportal", "db.internal", 5432, "portal",
    )  # fmt: skip


def test_broker_url_switches_to_redis_with_a_visibility_timeout(load_settings):
    s = load_settings(CELERY_BROKER_URL="redis://127.0.0.1:6379/0")
    assert s.CELERY_BROKER_URL == "redis://127.0.0.1:6379/0"
    assert s.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] >= 3600


def test_redis_redelivers_a_task_only_after_its_hard_time_limit_has_passed(load_settings):
    """Otherwise a second worker would start the same long batch or archive while the first
    still runs it."""
    s = load_settings(CELERY_BROKER_URL="redis://127.0.0.1:6379/0")
    assert s.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] > s.CELERY_TASK_TIME_LIMIT

    longer = load_settings(
        CELERY_BROKER_URL="redis://127.0.0.1:6379/0", CELERY_TASK_SOFT_TIME_LIMIT="36000"
    )
    assert longer.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] > 36000 + 600


def test_a_visibility_timeout_within_the_time_limit_stops_start_up(load_settings):
    with pytest.raises(ImproperlyConfigured, match=r"CELERY_VISIBILITY_TIMEOUT.* at least 22201"):
        load_settings(
            CELERY_BROKER_URL="redis://127.0.0.1:6379/0", CELERY_VISIBILITY_TIMEOUT="14400"
        )


def test_paths_lists_and_numbers_are_read(load_settings, tmp_path):
    s = load_settings(
        EXPORT_STAGING_DIR=str(tmp_path / "shared-staging"),
        ALLOWED_HOSTS="portal.example.com, admin.example.com",
        EXPORT_ARCHIVE_PART_BYTES="2147483648",
        EXPORT_DELIVERY_BACKEND="box",
        DJANGO_DEBUG="false",
    )
    assert s.EXPORT_STAGING_DIR == tmp_path / "shared-staging"
    assert s.ALLOWED_HOSTS == ["portal.example.com", "admin.example.com"]
    assert s.EXPORT_ARCHIVE_PART_BYTES == 2 * 1024**3
    assert s.EXPORT_DELIVERY_BACKEND == "box"
    assert s.DEBUG is False


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DATABASE_URL", "not a url"),
        ("DATABASE_URL", "mongodb://somewhere/db"),
        ("CELERY_BROKER_URL", "http://127.0.0.1:6379"),
        ("DJANGO_DEBUG", "perhaps"),
        ("DJANGO_ENV", "staging"),
        ("EXPORT_ARCHIVE_PART_BYTES", "four gigabytes"),
        ("EXPORT_ARCHIVE_PART_BYTES", "10"),
        ("EXPORT_ACCESS_DAYS", "0"),
        ("EXPORT_DELIVERY_BACKEND", "dropbox"),
        ("BOX_AUTH", "password"),
        ("LOG_LEVEL", "LOUD"),
        ("SESSION_IDLE_SECONDS", "-5"),
        ("EMAIL_URL", "carrier-pigeon://coop"),
    ],
)
def test_a_bad_value_stops_start_up_naming_the_variable(load_settings, variable, value):
    with pytest.raises(ImproperlyConfigured, match=variable):
        load_settings(**{variable: value})


def test_a_bad_value_is_not_echoed_because_it_may_be_a_secret(load_settings):
    with pytest.raises(ImproperlyConfigured) as caught:
        load_settings(DATABASE_URL="mongodb://admin:hunter2-secret@db/x")
    assert "hunter2" not in str(caught.value)


def test_production_requires_its_own_encryption_keys(load_settings):
    with pytest.raises(ImproperlyConfigured, match="FIELD_ENCRYPTION_KEYS"):
        load_settings(**PRODUCTION)
    with pytest.raises(ImproperlyConfigured, match="FIELD_ENCRYPTION_KEYS"):
        load_settings(**PRODUCTION, FIELD_ENCRYPTION_KEYS="not-a-fernet-key")
    s = load_settings(**PRODUCTION, FIELD_ENCRYPTION_KEYS=f"{FERNET_KEY}, {OLDER_FERNET_KEY}")
    assert s.FIELD_ENCRYPTION_KEYS == [FERNET_KEY, OLDER_FERNET_KEY]


def test_development_derives_an_encryption_key_from_the_secret_key(load_settings):
    assert len(load_settings().FIELD_ENCRYPTION_KEYS) == 1


def test_production_requires_its_own_audit_chain_keys(load_settings):
    env = {**PRODUCTION, "FIELD_ENCRYPTION_KEYS": FERNET_KEY}
    with pytest.raises(ImproperlyConfigured, match="AUDIT_CHAIN_KEYS"):
        load_settings(**{**env, "AUDIT_CHAIN_KEYS": ""})
    with pytest.raises(ImproperlyConfigured, match="AUDIT_CHAIN_KEYS"):
        load_settings(**{**env, "AUDIT_CHAIN_KEYS": "too-short"})
    s = load_settings(**{**env, "AUDIT_CHAIN_KEYS": f"{'n' * 40}, {AUDIT_KEY}"})
    assert s.AUDIT_CHAIN_KEYS == ["n" * 40, AUDIT_KEY]


def test_development_derives_an_audit_chain_key_from_the_secret_key(load_settings):
    derived = load_settings().AUDIT_CHAIN_KEYS
    assert len(derived) == 1
    assert load_settings(SECRET_KEY="another" * 8).AUDIT_CHAIN_KEYS != derived


def test_production_requires_a_long_secret_key(load_settings):
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY"):
        load_settings(DJANGO_ENV="production", ALLOWED_HOSTS="portal.example.com")
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY"):
        load_settings(DJANGO_ENV="production", SECRET_KEY="short")


def test_production_box_delivery_requires_its_credentials(load_settings):
    env = {**PRODUCTION, "FIELD_ENCRYPTION_KEYS": FERNET_KEY, "EXPORT_DELIVERY_BACKEND": "box"}
    with pytest.raises(ImproperlyConfigured, match="BOX_CLIENT_ID"):
        load_settings(**env)
    with pytest.raises(ImproperlyConfigured, match="BOX_JWT_CONFIG_FILE"):
        load_settings(**env, BOX_AUTH="jwt")


def test_debug_is_on_only_when_asked_for_and_never_in_production(load_settings):
    assert load_settings(DJANGO_DEBUG="true").DEBUG is True
    with pytest.raises(ImproperlyConfigured, match="DJANGO_DEBUG"):
        load_settings(**PRODUCTION, FIELD_ENCRYPTION_KEYS=FERNET_KEY, DJANGO_DEBUG="true")


def test_make_run_turns_debug_on():
    makefile = (ROOT / "Makefile").read_text()
    assert "run: export DJANGO_DEBUG = true" in makefile


def test_csrf_tokens_live_in_the_session():
    from django.conf import settings

    assert settings.CSRF_USE_SESSIONS is True


def test_production_is_https_only(load_settings):
    s = load_settings(**PRODUCTION, FIELD_ENCRYPTION_KEYS=FERNET_KEY, ALLOWED_HOSTS="example.com")
    assert s.DEBUG is False
    assert s.SESSION_COOKIE_SECURE and s.CSRF_COOKIE_SECURE and s.SECURE_SSL_REDIRECT
    assert s.SECURE_HSTS_SECONDS >= 31_536_000


def test_production_passes_check_deploy_with_no_warnings(tmp_path):
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in VARIABLES and key != "DJANGO_SETTINGS_MODULE"
    }
    env.update(
        DJANGO_ENV="production",
        SECRET_KEY="x7!kQ" * 12,
        FIELD_ENCRYPTION_KEYS=FERNET_KEY,
        AUDIT_CHAIN_KEYS=AUDIT_KEY,
        ALLOWED_HOSTS="portal.example.com",
        EXPORT_DATA_DIR=str(tmp_path),
        DJANGO_SETTINGS_MODULE="exportportal.settings",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
