"""``GET /data-dictionary/``: the deliverable's format, public (ONC §170.315(b)(10) asks that
an export's format be documented where anyone can read it). No sign-in: it documents the format
and holds no patient data. The site's security headers and CSP apply as to every page."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from .data_dictionary import dictionary_context


@require_GET
def data_dictionary(request: HttpRequest) -> HttpResponse:
    return render(request, "exports/data_dictionary.html", dictionary_context())
