from django.apps import AppConfig


class RequestsAppConfig(AppConfig):
    name = "requests_app"
    verbose_name = "Export requests"

    def ready(self) -> None:
        from .actions import register
        from .request_actions import ACTIONS

        register(*ACTIONS)
