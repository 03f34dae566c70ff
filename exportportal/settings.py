"""Export Portal settings: 12-factor, read from the environment through ``exportportal.env``.

With nothing set, the portal runs on one machine with no external server: a SQLite file, a
filesystem Celery broker, local staging and a local delivery folder, all under EXPORT_DATA_DIR.
Production sets DJANGO_ENV=production plus DATABASE_URL, CELERY_BROKER_URL, SECRET_KEY, ...
(README, "Production").
"""

import hashlib
from datetime import timedelta
from pathlib import Path

from celery.schedules import crontab
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from .encryption import development_key
from .env import (
    env_bool,
    env_choice,
    env_database,
    env_email_config,
    env_fernet_keys,
    env_int,
    env_list,
    env_path,
    env_required_str,
    env_secret_list,
    env_str,
    env_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent

ENVIRONMENT = env_choice("DJANGO_ENV", "development", ("development", "production"))
PRODUCTION = ENVIRONMENT == "production"

DATA_DIR = env_path("EXPORT_DATA_DIR", BASE_DIR / "var")
DATA_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)

if PRODUCTION:
    SECRET_KEY = env_required_str("SECRET_KEY", min_length=50)
else:
    SECRET_KEY = env_str("SECRET_KEY", "dev-only-insecure-key-never-used-in-production-0123456789")
# Debug pages show settings and source: only `make run` turns them on (DJANGO_DEBUG=true);
# the test runner decides for tests. Production refuses them.
DEBUG = env_bool("DJANGO_DEBUG", False)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DJANGO_DEBUG cannot be on when DJANGO_ENV=production.")
# Keys for secrets at rest, newest first (exportportal/encryption.py says how to rotate).
if PRODUCTION:
    FIELD_ENCRYPTION_KEYS = env_fernet_keys("FIELD_ENCRYPTION_KEYS", required=True)
else:
    FIELD_ENCRYPTION_KEYS = env_fernet_keys("FIELD_ENCRYPTION_KEYS") or [
        development_key(SECRET_KEY)
    ]
# The audit chain's HMAC keys, newest first, kept out of the database so that write access to
# it cannot re-sign a rewritten trail (requests_app/audit_chain.py says how to rotate).
if PRODUCTION:
    AUDIT_CHAIN_KEYS = env_secret_list("AUDIT_CHAIN_KEYS", min_length=32, required=True)
else:
    AUDIT_CHAIN_KEYS = env_secret_list("AUDIT_CHAIN_KEYS", min_length=32) or [
        hashlib.sha256(b"export-portal-audit-chain:" + SECRET_KEY.encode()).hexdigest()
    ]
# Checkpoints of the chain's head (count, hash, time), appended here and to the log: the copy
# outside the database that reveals removed newest events. Point it at append-only storage.
AUDIT_CHECKPOINT_FILE = env_path("AUDIT_CHECKPOINT_FILE", DATA_DIR / "audit-checkpoints.jsonl")
AUDIT_CHECKPOINT_MINUTES = env_int("AUDIT_CHECKPOINT_MINUTES", 10, minimum=1, maximum=1440)
ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost", "testserver"]
)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "exportportal.admin_config.PortalAdminConfig",  # the Django admin, for Admins only
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "guardian",
    "django_htmx",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "exportportal",  # project-wide management commands (run_local)
    "accounts",
    "requests_app",
    "exports",
    "outbox",
]

MIDDLEWARE = [
    "exportportal.log_context.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "accounts.middleware.TwoFactorMiddleware",
    "accounts.middleware.IdleSessionMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "exportportal.viewer_time_zone.ViewerTimeZoneMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes requires
]

ROOT_URLCONF = "exportportal.urls"
WSGI_APPLICATION = "exportportal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.role",
            ],
        },
    },
]

DATABASES = {"default": env_database("DATABASE_URL", f"sqlite:///{DATA_DIR / 'portal.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The test database is a file, not memory, so a real worker process can share it.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test-portal.sqlite3")}
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses locked-out sign-ins
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "accounts:home"
LOGOUT_REDIRECT_URL = "accounts:login"
GUARDIAN_RAISE_403 = True
# Two-factor sign-in (accounts/two_factor.py): the issuer names the entry in authenticator apps.
OTP_TOTP_ISSUER = env_str("OTP_TOTP_ISSUER", "Export Portal")
# Revealing an archive password or downloading a manifest asks for a new code unless one was
# given (signing in included) within this many seconds (accounts/fresh_code.py).
TWO_FACTOR_FRESH_SECONDS = env_int("TWO_FACTOR_FRESH_SECONDS", 300, minimum=30, maximum=3600)
# Lockout (django-axes): this many wrong passwords for one username from one address lock that
# pair out for the cool-off. Behind a reverse proxy, set the number of trusted proxies so the
# client's own address is read from X-Forwarded-For (accounts/lockout.py).
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5, minimum=1, maximum=100)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 30, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "accounts.views.locked"
AXES_CLIENT_IP_CALLABLE = "accounts.lockout.client_ip"
AXES_TRUSTED_PROXY_COUNT = env_int("AXES_TRUSTED_PROXY_COUNT", 0, minimum=0, maximum=10)
ANONYMOUS_USER_NAME = None  # no anonymous object permissions: every reader signs in

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env_path("STATIC_ROOT", DATA_DIR / "staticfiles")
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Uploaded files (signed addenda) are private: kept outside any served folder, read only
# through permission-checked views.
MEDIA_ROOT = env_path("EXPORT_MEDIA_DIR", DATA_DIR / "private-media")
FILE_UPLOAD_PERMISSIONS = 0o600
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o700
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

# Email: console by default; EMAIL_URL (smtp+tls://user:pass@host:587) in production.
vars().update(env_email_config("EMAIL_URL", "consolemail://"))
# Every email goes through the outbox (outbox/sending.py): written with the step, sent by a
# worker, tried this many times with waits doubling from the backoff, then shown to admins.
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT_SECONDS", 30, minimum=1)
OUTBOX_MAX_ATTEMPTS = env_int("OUTBOX_MAX_ATTEMPTS", 8, minimum=1, maximum=50)
OUTBOX_RETRY_BACKOFF_SECONDS = env_int("OUTBOX_RETRY_BACKOFF_SECONDS", 30, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Export Portal <export-portal@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
PORTAL_BASE_URL = env_str("PORTAL_BASE_URL", "http://127.0.0.1:8000")

# Security. Production is HTTPS-only behind a proxy that sets X-Forwarded-Proto.
SESSION_COOKIE_HTTPONLY = True
# The age is an inactivity timeout: accounts.middleware.IdleSessionMiddleware renews it on every
# request a person makes, and not on the live progress polls a page makes by itself.
SESSION_COOKIE_AGE = env_int("SESSION_IDLE_SECONDS", 30 * 60, minimum=60)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
# The CSRF token lives in the server-side session, not in a cookie of its own.
CSRF_USE_SESSIONS = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Content Security Policy (django-csp): our own static files only; no inline script or style,
# no plugins, no framing, forms post only to us. Inline SVG charts and QR codes are markup, not
# loads, so they need no source.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [NONE],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF],
        "font-src": [SELF],
        "connect-src": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "base-uri": [NONE],
        "object-src": [NONE],
    }
}
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # probed over plain HTTP from inside the host
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# Celery. The embedded broker is kombu's filesystem transport: no server, one machine.
# Long tasks: a whole batch or a whole archive. The soft limit lets a task record its failure.
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 6 * 3600, minimum=60)
CELERY_TASK_TIME_LIMIT = CELERY_TASK_SOFT_TIME_LIMIT + 600
CELERY_BROKER_URL = env_url(
    "CELERY_BROKER_URL", "filesystem://", ("filesystem", "redis", "rediss", "amqp")
)
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = DATA_DIR / "broker"
    for _folder in ("queue", "control"):
        (_broker_dir / _folder).mkdir(mode=0o700, parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "control_folder": str(_broker_dir / "control"),
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Longer than the longest task (its hard time limit), or Redis redelivers a message
        # still being worked on and a second worker runs the same batch or archive.
        "visibility_timeout": env_int(
            "CELERY_VISIBILITY_TIMEOUT",
            CELERY_TASK_TIME_LIMIT + 3600,
            minimum=CELERY_TASK_TIME_LIMIT + 1,
        ),
    }
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_IGNORE_RESULT = True  # progress lives in the database, not in results
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
# Extraction, packaging and delivery get queues of their own, so operators scale them apart.
CELERY_TASK_ROUTES = {
    "exports.plan_extraction": {"queue": "extract"},
    "exports.extract_patients": {"queue": "extract"},
    "exports.package_export": {"queue": "package"},
    "exports.deliver_export": {"queue": "deliver"},
}
# Transient trouble (a throttled source, a lost database connection, Box 5xx) is retried with
# exponential backoff from this many seconds, this many times, before the stage fails.
EXPORT_TASK_RETRY_BACKOFF_SECONDS = env_int("EXPORT_TASK_RETRY_BACKOFF_SECONDS", 5, minimum=1)
EXPORT_TASK_MAX_RETRIES = env_int("EXPORT_TASK_MAX_RETRIES", 6, minimum=0, maximum=50)
CELERY_BEAT_SCHEDULE = {
    "worker-heartbeat": {"task": "exports.worker_heartbeat", "schedule": 60.0},
    "sweep-pipeline": {"task": "exports.sweep_pipeline", "schedule": 60.0},
    "send-due-emails": {"task": "outbox.send_due", "schedule": 60.0},
    "audit-checkpoint": {
        "task": "requests_app.write_audit_checkpoint",
        "schedule": AUDIT_CHECKPOINT_MINUTES * 60.0,
    },
    "timeline-digest": {
        "task": "requests_app.send_timeline_digest",
        "schedule": crontab(hour=7, minute=0),
    },
    # Expiry reminders (7 days and 1 day before) and deletion once access has ended. Hourly, so
    # access ends within the hour of its expiry; each reminder is still sent once.
    "delivery-lifecycle": {
        "task": "exports.run_delivery_lifecycle",
        "schedule": crontab(minute=20),
    },
}
CELERY_TIMEZONE = TIME_ZONE

# /healthz (exportportal/health.py): each check's time limit, and how recently a worker must have
# recorded its heartbeat (the beat asks every 60 s).
HEALTH_TIMEOUT_SECONDS = env_int("HEALTH_TIMEOUT_SECONDS", 3, minimum=1, maximum=30)
HEALTH_WORKER_SEEN_SECONDS = env_int("HEALTH_WORKER_SEEN_SECONDS", 180, minimum=30)

# Export pipeline storage and delivery.
EXPORT_STAGING_DIR = env_path("EXPORT_STAGING_DIR", DATA_DIR / "staging")
EXPORT_PROGRESS_POLL_SECONDS = env_int("EXPORT_PROGRESS_POLL_SECONDS", 2, minimum=1)
EXPORT_BATCH_SIZE = env_int("EXPORT_BATCH_SIZE", 250, minimum=1, maximum=10_000)
# A batch or stage whose heartbeat is older than this is taken to be dead and is sent again.
EXPORT_STALE_SECONDS = env_int("EXPORT_STALE_SECONDS", 300, minimum=1)
EXPORT_DEMO_LARGE_DOCUMENT_BYTES = env_int(
    "EXPORT_DEMO_LARGE_DOCUMENT_BYTES", 64 * 1024 * 1024, minimum=4096
)
EXPORT_ARCHIVE_PART_BYTES = env_int("EXPORT_ARCHIVE_PART_BYTES", 4 * 1024**3, minimum=1024 * 1024)
EXPORT_DELIVERY_BACKEND = env_choice("EXPORT_DELIVERY_BACKEND", "local", ("local", "box"))
EXPORT_LOCAL_DELIVERY_DIR = env_path("EXPORT_LOCAL_DELIVERY_DIR", DATA_DIR / "delivery")
EXPORT_ACCESS_DAYS = env_int("EXPORT_ACCESS_DAYS", 60, minimum=1, maximum=365)
BOX_AUTH = env_choice("BOX_AUTH", "ccg", ("ccg", "jwt"))
BOX_CLIENT_ID = env_str("BOX_CLIENT_ID", "")
BOX_CLIENT_SECRET = env_str("BOX_CLIENT_SECRET", "")
BOX_ENTERPRISE_ID = env_str("BOX_ENTERPRISE_ID", "")
BOX_JWT_CONFIG_FILE = env_str("BOX_JWT_CONFIG_FILE", "")
BOX_PARENT_FOLDER_ID = env_str("BOX_PARENT_FOLDER_ID", "0")
BOX_API_URL = env_url("BOX_API_URL", "https://api.box.com", ("https", "http"))
BOX_UPLOAD_URL = env_url("BOX_UPLOAD_URL", "https://upload.box.com/api", ("https", "http"))
BOX_OAUTH_URL = env_url("BOX_OAUTH_URL", "https://account.box.com/api/oauth2", ("https", "http"))
# Box accepts chunked upload sessions only for files of 20 MB or more.
BOX_CHUNKED_UPLOAD_BYTES = env_int("BOX_CHUNKED_UPLOAD_BYTES", 50 * 1024 * 1024, minimum=20_000_000)

DRCHRONO_API_BASE_URL = env_url(
    "DRCHRONO_API_BASE_URL", "https://app.drchrono.com", ("https", "http")
)
DRCHRONO_TOKEN_URL = env_url(
    "DRCHRONO_TOKEN_URL", "https://drchrono.com/o/token/", ("https", "http")
)
DRCHRONO_REQUESTS_PER_HOUR = env_int("DRCHRONO_REQUESTS_PER_HOUR", 500, minimum=1)
DRCHRONO_MAX_ATTEMPTS = env_int("DRCHRONO_MAX_ATTEMPTS", 5, minimum=1, maximum=20)
DRCHRONO_BACKOFF_MS = env_int("DRCHRONO_BACKOFF_MS", 1000, minimum=1)
# Ship DrChrono's own C-CDA (when it passes the CDA schema) rather than ours: one request per
# patient from the hourly budget, so about 20 more hours for 10,000 patients at 500 an hour.
DRCHRONO_SOURCE_CCDA = env_bool("DRCHRONO_SOURCE_CCDA", True)
# Files come from signed URLs (file storage), not the API: they spend none of the hourly
# allowance and have a throttle of their own, downloads started per second per worker (0: none).
DRCHRONO_FILE_DOWNLOADS_PER_SECOND = env_int("DRCHRONO_FILE_DOWNLOADS_PER_SECOND", 20, minimum=0)
# FHIR Bulk Data: how long a worker waits for the EHR in one go. A status poll or a 429 whose
# Retry-After is longer than the cap, or waiting past the total, pauses the stage instead (the
# next run polls the same export job); the poll interval applies when the EHR names none.
FHIR_BULK_MAX_WAIT_SECONDS = env_int("FHIR_BULK_MAX_WAIT_SECONDS", 120, minimum=0)
FHIR_BULK_TOTAL_WAIT_SECONDS = env_int("FHIR_BULK_TOTAL_WAIT_SECONDS", 3600, minimum=0)
FHIR_BULK_POLL_SECONDS = env_int("FHIR_BULK_POLL_SECONDS", 10, minimum=1)
if PRODUCTION and EXPORT_DELIVERY_BACKEND == "box":
    if BOX_AUTH == "ccg":
        BOX_CLIENT_ID = env_required_str("BOX_CLIENT_ID")
        BOX_CLIENT_SECRET = env_required_str("BOX_CLIENT_SECRET")
        BOX_ENTERPRISE_ID = env_required_str("BOX_ENTERPRISE_ID")
    else:
        BOX_JWT_CONFIG_FILE = env_required_str("BOX_JWT_CONFIG_FILE")

# Logs: JSON lines (one object per line, with the request id and the Celery task id) in
# production, the same fields as plain text in development. Messages name ids, never PHI.
LOG_FORMAT = env_choice("LOG_FORMAT", "json" if PRODUCTION else "plain", ("json", "plain"))
_LOG_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(task_id)s"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "exportportal.log_context.ContextFilter"}},
    "formatters": {
        "json": {"()": "pythonjsonlogger.json.JsonFormatter", "format": _LOG_FIELDS},
        "plain": {
            "format": "%(asctime)s %(levelname)s %(name)s [req=%(request_id)s task=%(task_id)s] "
            "%(message)s"
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["context"],
        }
    },
    # httpx logs whole request URLs at INFO; file URLs can carry patients' file names.
    "loggers": {"httpx": {"level": "WARNING"}, "httpcore": {"level": "WARNING"}},
    "root": {
        "handlers": ["console"],
        "level": env_choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR")),
    },
}
