"""Installed in place of ``django.contrib.admin``: the same admin on the portal's own site.

Apart from ``admin_site`` because app configs load before models may be imported."""

from django.contrib.admin.apps import AdminConfig


class PortalAdminConfig(AdminConfig):
    default_site = "exportportal.admin_site.PortalAdminSite"
