"""Settings for the test suite: the real settings, with a data directory of its own.

Each test session gets a fresh private data directory (SQLite test database, the embedded
broker's folders), so concurrent runs and a portal running from `make run` never meet.
Worker processes started by the tests inherit it through EXPORT_DATA_DIR. DATABASE_URL and
CELERY_BROKER_URL still choose PostgreSQL and Redis when set (CI sets them).
"""

import atexit
import os
import shutil
import tempfile

if "EXPORT_DATA_DIR" not in os.environ:
    _session_dir = tempfile.mkdtemp(prefix="exportportal-test-")
    os.environ["EXPORT_DATA_DIR"] = _session_dir
    atexit.register(shutil.rmtree, _session_dir, ignore_errors=True)

from .settings import *  # noqa: F403

# Password hashing is deliberately slow; tests sign in hundreds of times.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
if "EMAIL_URL" not in os.environ:  # worker processes in tests write emails to files instead
    EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
