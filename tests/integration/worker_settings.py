"""Settings for the worker processes the integration tests start: the test settings plus the
probes app (tests/integration/probes.py), which does nothing unless a test switches a probe on
through the worker's environment. Never used outside tests."""

from exportportal.settings_test import *  # noqa: F403
from exportportal.settings_test import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.integration.probes.ProbesConfig"]
