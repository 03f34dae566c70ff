"""The Content Security Policy: pages load only the portal's own static files, run no inline
script or style, and cannot be framed."""

import re

import pytest
from django.conf import settings
from django.template.loader import get_template
from django.urls import reverse

from requests_app.models import Status
from tests import factories

pytestmark = pytest.mark.django_db

TEMPLATES_DIR = settings.BASE_DIR / "templates"
#: files written into the archive (its readme), opened from disk and never served: no CSP
#: reaches them, so their style is inline; they still carry no script (tests/packaging)
ARCHIVE_TEMPLATES = TEMPLATES_DIR / "archive"


def policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {
        name: values
        for name, *values in (part.split() for part in header.split(";") if part.strip())
    }


def test_signed_out_and_signed_in_pages_carry_the_policy(client):
    pages = [client.get(reverse("accounts:login"))]
    factories.sign_in(client, factories.admin())
    r = factories.export_request(status=Status.CLAIMED)
    pages += [
        client.get(reverse("requests_app:dashboard-admin")),
        client.get(reverse("requests_app:detail", args=[r.pk])),
        client.get(reverse("requests_app:live", args=[r.pk]), headers={"HX-Request": "1"}),
        client.get(reverse("admin:index")),
    ]
    for page in pages:
        assert page.status_code == 200
        directives = policy(page)
        assert directives["default-src"] == ["'none'"]
        assert directives["script-src"] == ["'self'"]
        assert directives["style-src"] == ["'self'"]
        assert directives["frame-ancestors"] == ["'none'"]
        assert not any("unsafe" in value for values in directives.values() for value in values)


def test_no_template_has_an_inline_script_style_or_event_handler():
    offenders = []
    for path in TEMPLATES_DIR.rglob("*.html"):
        if path.is_relative_to(ARCHIVE_TEMPLATES):
            continue
        text = path.read_text()
        if re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text) or re.search(
            r"<style\b|\sstyle=|\son[a-z]+=|javascript:", text
        ):
            offenders.append(str(path.relative_to(TEMPLATES_DIR)))
    assert offenders == []


def test_the_pipeline_progress_is_a_progress_element_with_its_label():
    html = get_template("exports/_pipeline_panel.html").template.source
    assert re.search(r'<progress class="progress" aria-label="[^"]+" max="100" value=', html)
