from django.apps import AppConfig


class ExportsConfig(AppConfig):
    name = "exports"
    verbose_name = "Export pipeline"

    def ready(self) -> None:
        from requests_app import actions, timeline_chart

        from .pipeline_actions import PIPELINE_ACTIONS
        from .plan import finish_marks

        actions.register(*PIPELINE_ACTIONS)
        timeline_chart.register_marks(finish_marks)
