from django.urls import path

from . import audit_chain_views, practice_views, views

app_name = "requests_app"

urlpatterns = [
    path(
        "dashboard/account-manager/",
        views.dashboard_account_manager,
        name="dashboard-account-manager",
    ),
    path("dashboard/data-team/", views.dashboard_data_team, name="dashboard-data-team"),
    path("dashboard/admin/", views.dashboard_admin, name="dashboard-admin"),
    path("requests/new/", views.request_file, name="file"),
    path("practices/", practice_views.practice_list, name="practices"),
    path("practices/new/", practice_views.practice_add, name="practice-add"),
    path("practices/<int:pk>/edit/", practice_views.practice_edit, name="practice-edit"),
    path("requests/<int:pk>/", views.request_detail, name="detail"),
    path("requests/<int:pk>/live/", views.request_live, name="live"),
    path("requests/<int:pk>/edit/", views.request_edit, name="edit"),
    path("requests/<int:pk>/actions/<slug:action>/", views.request_action, name="action"),
    path("requests/<int:pk>/signed-addendum/", views.signed_addendum, name="signed-addendum"),
    path("audit/", views.audit_page, name="audit"),
    path("audit.csv", views.audit_csv, name="audit-csv"),
    path("audit/integrity/", audit_chain_views.audit_chain_page, name="audit-chain"),
]
