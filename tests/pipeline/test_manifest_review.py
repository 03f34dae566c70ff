"""Before approving, the data team can read the packaged tree's manifest; the request keeps its
fingerprint (files, bytes, SHA-256) after the staged copy is gone."""

import csv
import hashlib
import io
from pathlib import Path

import pytest
from django.urls import reverse

from exports import pipeline
from exports.models import ExportJob
from exports.services import MANIFEST_DOWNLOADED
from tests.factories import admin, data_member, sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def detail(client, request) -> str:
    return client.get(reverse("requests_app:detail", args=[request.pk])).content.decode()


def download(client, request):
    return client.get(reverse("exports:manifest-download", args=[request.pk]))


def test_packaging_records_the_manifest_and_the_claimer_downloads_it(client, packaged_job):
    request, member, job = packaged_job
    job = ExportJob.objects.get(pk=job.pk)
    manifest = Path(job.manifest["path"])

    assert manifest.name == "manifest.csv" and manifest.is_relative_to(job.staging_dir)
    assert job.manifest["sha256"] == hashlib.sha256(manifest.read_bytes()).hexdigest()
    rows = list(csv.DictReader(io.StringIO(manifest.read_text(encoding="utf-8-sig"))))
    assert job.manifest["files"] == len(rows) > 12
    assert job.manifest["bytes"] == sum(int(row["Bytes"]) for row in rows)

    sign_in(client, member)
    page = detail(client, request)
    assert job.manifest["sha256"] in page and "Download manifest.csv" in page
    response = download(client, request)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == manifest.read_bytes()
    assert response["Content-Disposition"] == 'attachment; filename="manifest.csv"'
    event = request.events.get(action=MANIFEST_DOWNLOADED)
    assert event.actor == member and event.details["sha256"] == job.manifest["sha256"]


def test_another_data_team_member_may_not_download_it_but_an_admin_may(client, packaged_job):
    request, *_ = packaged_job
    sign_in(client, data_member())
    assert download(client, request).status_code == 403
    sign_in(client, admin())
    assert download(client, request).status_code == 200


def test_after_delivery_the_fingerprint_stays_and_the_download_is_gone(client, packaged_job):
    request, member, job = packaged_job
    pipeline.pipeline_approve(export_request_id=request.pk, actor=member, acknowledge_failures=True)
    assert pipeline.job_deliver(job.pk)
    pipeline.remove_staging(ExportJob.objects.get(pk=job.pk))  # as the delivery's commit does
    job = ExportJob.objects.get(pk=job.pk)

    sign_in(client, member)
    page = detail(client, request)
    assert job.manifest["sha256"] in page and "Download manifest.csv" not in page
    response = download(client, request)
    assert response.status_code == 302
    assert not request.events.filter(action=MANIFEST_DOWNLOADED).exists()
