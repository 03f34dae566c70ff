"""``manage.py benchmark_export`` (``make bench``): the export's speed and memory at growing
practice sizes, stage by stage, in seconds and CPU-seconds, beside the floors (zip -r, lxml, cp -r,
bare openpyxl). The work is ``exports.benchmark``; this prints its table."""

from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from exports.benchmark import DEFAULT_SIZES, SizeReport, format_report, run_benchmark
from exports.sources.demo import MAX_PATIENTS, MIN_PATIENTS


class Command(BaseCommand):
    help = (
        "Export demo practices of each size (each in a fresh process, workers on every CPU) "
        "and print seconds, CPU-seconds, records/s and MB/s per stage, peak memory, growth "
        "between sizes, the floors and the targets. Takes minutes: ~30 for the default sizes."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--sizes",
            default=",".join(str(size) for size in DEFAULT_SIZES),
            help="patients per practice, comma-separated (default: %(default)s)",
        )
        parser.add_argument(
            "--workers", type=int, default=os.cpu_count() or 1, help="default: CPUs"
        )
        parser.add_argument("--batch-size", type=int, default=settings.EXPORT_BATCH_SIZE)
        parser.add_argument(
            "--work-dir",
            type=Path,
            default=settings.EXPORT_STAGING_DIR,
            help="where the trees and archives are written, then removed (default: staging)",
        )
        parser.add_argument(
            "--large-document-bytes",
            type=int,
            default=settings.EXPORT_DEMO_LARGE_DOCUMENT_BYTES,
            help="size of the demo practice's one very large document",
        )
        parser.add_argument(
            "--no-baselines",
            action="store_true",
            help="skip the floors (zip -r, lxml, cp -r, openpyxl)",
        )

    def handle(self, *args: object, **options: object) -> None:
        sizes = _sizes(str(options["sizes"]))
        if options["workers"] < 1 or options["batch_size"] < 1:
            raise CommandError("--workers and --batch-size must be at least 1")
        work_dir: Path = options["work_dir"]
        work_dir.mkdir(mode=0o700, parents=True, exist_ok=True)

        def size_done(report: SizeReport) -> None:
            self.stderr.write(f"{report.patients:,} patients: {report.seconds:.1f} s")

        try:
            reports = run_benchmark(
                sizes,
                workers=options["workers"],
                batch_size=options["batch_size"],
                work_dir=work_dir,
                large_document_bytes=options["large_document_bytes"],
                baselines=not options["no_baselines"],
                on_size_done=size_done,
            )
        except RuntimeError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write("\n".join(format_report(reports)))


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise CommandError("--sizes must be whole numbers separated by commas") from None
    if not sizes or any(not MIN_PATIENTS <= size <= MAX_PATIENTS for size in sizes):
        raise CommandError(f"each size must be {MIN_PATIENTS} to {MAX_PATIENTS} patients")
    return sizes
