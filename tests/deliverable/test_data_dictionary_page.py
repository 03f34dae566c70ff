"""The portal publishes the deliverable's data dictionary: reachable without signing in (it
documents the format and holds no patient data), generated from the same schema as the
archive's tables, with the format's version, under the site's security headers."""

from __future__ import annotations

import html

import pytest
from django.urls import reverse

from exports.data_dictionary import dictionary_url
from exports.deliverable_schema import FORMAT_VERSION, TABLES
from tests import factories

pytestmark = pytest.mark.django_db


def test_anyone_reads_the_data_dictionary_without_signing_in(client):
    response = client.get(reverse("exports:data-dictionary"))

    assert response.status_code == 200
    assert response.wsgi_request.user.is_anonymous
    assert b'name="password"' not in response.content


def test_the_page_shows_every_table_and_column_of_the_schema_and_the_format_version(client):
    page = html.unescape(client.get(reverse("exports:data-dictionary")).content.decode())

    assert f"Format version {FORMAT_VERSION}" in page
    for table in TABLES:
        assert f'<section id="table-{table.key}"' in page
        assert f"<h3>{table.name}</h3>" in page
        for column in table.columns:
            assert f'<th scope="row">{column.header}</th><td>{column.description}</td>' in page
            if column.code_system is not None:
                assert str(column.code_system) in page


def test_the_page_keeps_the_sites_security_headers(client):
    response = client.get(reverse("exports:data-dictionary"))

    assert "default-src 'none'" in response["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"<style" not in response.content


def test_signed_in_staff_read_the_same_page(client):
    factories.sign_in(client, factories.admin())

    assert client.get(reverse("exports:data-dictionary")).status_code == 200


def test_the_archive_links_to_the_page_by_its_absolute_address(settings):
    settings.PORTAL_BASE_URL = "https://exports.example.org/"

    assert dictionary_url() == "https://exports.example.org/data-dictionary/"
