from django.apps import AppConfig


class ExportsConfig(AppConfig):
    name = "exports"
    verbose_name = "Export pipeline"

    def ready(self) -> None:
        from requests_app import actions

        from .actions import PIPELINE_ACTIONS

        actions.register(*PIPELINE_ACTIONS)
