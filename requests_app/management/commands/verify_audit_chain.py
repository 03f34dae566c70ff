from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from requests_app.audit_checkpoints import verify


class Command(BaseCommand):
    help = (
        "Verify the request events' keyed hash chain against the checkpoints kept outside the "
        "database; exit 1 naming the first broken link."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--checkpoints",
            type=Path,
            help="A copy of the checkpoints to compare with (JSON lines, or lines of the JSON "
            "log); by default AUDIT_CHECKPOINT_FILE.",
        )

    def handle(self, *args, checkpoints=None, **options):
        report = verify(checkpoints)
        compared = (
            f"{report.checkpoints_checked} checkpoints compared, newest of "
            f"{report.newest_checkpoint_at}"
            if report.checkpoints_checked
            else "no checkpoint to compare with, so removed newest events would not show"
        )
        if not report.intact:
            broken = report.first_break
            where = f"event {broken.event_id}" if broken.event_id else "its head"
            raise CommandError(
                f"The audit chain is broken at {where}: {broken.reason}. "
                f"({report.events_checked} events checked; {compared}.)"
            )
        self.stdout.write(
            f"The audit chain is intact: {report.events_checked} events checked; {compared}."
        )
