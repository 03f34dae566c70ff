from django.apps import AppConfig


class ExportsConfig(AppConfig):
    name = "exports"
    verbose_name = "Export pipeline"

    def ready(self) -> None:
        from requests_app import actions, demo, timeline_chart

        # Registers the Celery tasks in every process (web included): the pipeline sends them by
        # name (exports.pipeline.dispatch) and never imports this module itself.
        from . import tasks  # noqa: F401
        from .actions import PIPELINE_ACTIONS
        from .plan import finish_marks

        actions.register(*PIPELINE_ACTIONS)
        timeline_chart.register_marks(finish_marks)
        demo.register_more("exports.demo.seed_pipeline_requests")
