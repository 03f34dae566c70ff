from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

app_name = "accounts"

urlpatterns = [
    path("", views.home, name="home"),
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="accounts/login.html", redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("login/verify/", views.verify, name="verify"),
    path("login/two-factor/", views.enrol, name="enrol"),
    path("login/confirm/", views.confirm_code, name="confirm-code"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
]
