"""``manage.py export_practice``: export a practice to encrypted archives, without the portal.

Needs no portal database rows and no broker: the data team's tool for one-off exports and
inspection, and the benchmarks' driver. The work is ``exports.local_export``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from tqdm import tqdm

from exports.archive import ArchiveError
from exports.local_export import ExitCode, reconciliation_summary, run_local_export
from exports.local_sources import DemoSourceSpec, SourceSpec
from exports.packaging.errors import PackagingError
from exports.sources.demo import MAX_PATIENTS, MIN_PATIENTS
from exports.sources.drchrono import ClientSettings, SystemClock
from exports.sources.drchrono.budget import Clock
from exports.sources.drchrono.local import DrChronoSourceSpec, initial_tokens, load_tokens
from exports.sources.fhir_bulk.command_options import add_fhir_bulk_arguments, fhir_bulk_spec
from exports.sources.records import SourceAsksToWait, SourceError
from exports.stages import ExportContext

DEMO_PRACTICE_NAME = "Demo Family Practice"
#: the clock waits are measured and slept on; tests give a fast one
CLOCK: Clock = SystemClock()
#: a DrChrono run without --work-dir keeps what it fetched in a folder of its own, removed
#: when the run ends
WORK_FOLDER_PREFIX = ".drchrono-work-"
_BAR_UNITS = {
    "patients": ("Extracting", "patient", False),
    "ccdas": ("Fetching the EHR's C-CDAs", "patient", False),
    "archive": ("Archiving", "B", True),
}


class Command(BaseCommand):
    help = (
        "Export a practice (demo or DrChrono) into AES-256 encrypted archives in --out, the "
        "password into --password-file (created owner-only, never overwritten). Exit codes: "
        "0 every record exported or excluded with a reason; 1 archived, but some records "
        "failed (listed with their reasons); 2 the reconciliation does not balance (nothing "
        "archived) or the export could not run."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--source", required=True, choices=("demo", "drchrono", "fhir-bulk"))
        parser.add_argument("--out", required=True, type=Path, help="folder for the archives")
        parser.add_argument(
            "--password-file", required=True, type=Path, help="new file for the password"
        )
        parser.add_argument(
            "--keep-tree", action="store_true", help="keep the unpacked tree for inspection"
        )
        parser.add_argument("--batch-size", type=int, default=settings.EXPORT_BATCH_SIZE)
        parser.add_argument(
            "--workers", type=int, default=None, help="extraction processes (default: CPUs)"
        )
        parser.add_argument("--practice-name", help=f"default for demo: {DEMO_PRACTICE_NAME}")
        parser.add_argument(
            "--practice-id",
            help="the practice's id in the EHR, roots of the C-CDA ids (default: its name)",
        )
        parser.add_argument("--part-bytes", type=int, default=settings.EXPORT_ARCHIVE_PART_BYTES)

        demo = parser.add_argument_group("demo source")
        demo.add_argument("--patients", type=int, help=f"{MIN_PATIENTS} to {MAX_PATIENTS}")
        demo.add_argument("--seed", type=int, default=1)
        demo.add_argument(
            "--large-document-bytes",
            type=int,
            default=settings.EXPORT_DEMO_LARGE_DOCUMENT_BYTES,
            help="size of the demo practice's one very large document",
        )

        drchrono = parser.add_argument_group(
            "DrChrono source (options, else the environment variables DRCHRONO_CLIENT_ID, "
            "DRCHRONO_CLIENT_SECRET, DRCHRONO_ACCESS_TOKEN, DRCHRONO_REFRESH_TOKEN: prefer "
            "these for secrets, options show in the process list; API base URLs from the "
            "DRCHRONO_API_BASE_URL and DRCHRONO_TOKEN_URL settings)"
        )
        drchrono.add_argument("--client-id", default=os.environ.get("DRCHRONO_CLIENT_ID", ""))
        drchrono.add_argument(
            "--client-secret", default=os.environ.get("DRCHRONO_CLIENT_SECRET", "")
        )
        drchrono.add_argument("--access-token", default=os.environ.get("DRCHRONO_ACCESS_TOKEN", ""))
        drchrono.add_argument(
            "--refresh-token", default=os.environ.get("DRCHRONO_REFRESH_TOKEN", "")
        )
        drchrono.add_argument(
            "--work-dir",
            type=Path,
            help="folder (kept) for what the run fetched from DrChrono: a stopped run started "
            "again with the same folder resumes without repeating a call already answered",
        )
        drchrono.add_argument(
            "--token-file",
            type=Path,
            help="where renewed tokens are saved (owner-only); DrChrono replaces the refresh "
            "token at every renewal. Tokens are read from it when none are given.",
        )

        add_fhir_bulk_arguments(parser)

    def handle(self, *args: object, **options: object) -> None:
        spec, practice_name = self._source(options)
        context = ExportContext(
            practice_name=practice_name,
            practice_key=str(options["practice_id"] or practice_name),
            reference=f"LOCAL-{date.today():%Y%m%d}",
            export_date=date.today(),
            started_at=timezone.now(),
        )
        with _ProgressBars(enabled=self.stdout.isatty()) as bars:
            if not isinstance(spec, DrChronoSourceSpec):
                result = self._export(spec, context, options, bars)
            else:
                spec = replace(spec, on_wait=lambda until: self._waiting(bars, until))
                try:
                    result = self._export(spec, context, options, bars)
                finally:
                    if options["work_dir"] is None:  # a folder of this run's own
                        shutil.rmtree(spec.work_dir, ignore_errors=True)
                self._report_usage(spec)

        self.stdout.write(f"Patients read: {result.patients}")
        for part in result.archives:
            self.stdout.write(f"Archive: {part.path} ({part.bytes} bytes, SHA-256 {part.sha256})")
        if result.archives:
            self.stdout.write(f"Password written to {options['password_file']} (owner-only)")
        if result.tree is not None:
            self.stdout.write(f"Unpacked tree kept for inspection: {result.tree}")
        self.stdout.write("")
        self.stdout.write("\n".join(reconciliation_summary(result.reconciliation)))

        reconciliation = result.reconciliation
        if result.exit_code is ExitCode.NOT_ARCHIVED:
            unbalanced = ", ".join(line.label for line in reconciliation.unbalanced)
            raise CommandError(
                f"records went missing: the reconciliation does not balance for {unbalanced}. "
                "Nothing was archived.",
                returncode=result.exit_code,
            )
        if result.exit_code is ExitCode.RECORDS_FAILED:
            failed = sum(line.failed for line in reconciliation.lines)
            raise CommandError(
                f"{failed} records failed; they are listed above with their reasons",
                returncode=result.exit_code,
            )
        self.stdout.write(self.style.SUCCESS("Every record exported or excluded with a reason."))

    def _export(self, spec: SourceSpec, context, options, bars: _ProgressBars):
        """Run the export; when DrChrono asks to wait (a long throttle), wait and go on: the
        spool in the work folder keeps every answer already had."""
        while True:
            try:
                return run_local_export(
                    spec,
                    context,
                    out_dir=options["out"],
                    password_file=options["password_file"],
                    batch_size=options["batch_size"],
                    workers=options["workers"],
                    part_bytes=options["part_bytes"],
                    keep_tree=bool(options["keep_tree"]),
                    progress=bars.update,
                )
            except FileExistsError:
                raise CommandError(
                    "the password file already exists: refusing to overwrite it",
                    returncode=ExitCode.NOT_ARCHIVED,
                ) from None
            except SourceAsksToWait as exc:
                until = CLOCK.time() + exc.retry_after
                self._waiting(bars, until)
                CLOCK.sleep(exc.retry_after)
            except (SourceError, PackagingError, ArchiveError) as exc:
                # Their messages never carry PHI; other exceptions' messages may (file paths,
                # quoted values), so only their type is shown, and no traceback.
                raise CommandError(
                    f"the export failed: {exc}", returncode=ExitCode.NOT_ARCHIVED
                ) from None
            except Exception as exc:
                raise CommandError(
                    f"the export failed ({type(exc).__name__})", returncode=ExitCode.NOT_ARCHIVED
                ) from None

    def _waiting(self, bars: _ProgressBars, until: float) -> None:
        when = datetime.fromtimestamp(until, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        message = f"DrChrono's hourly allowance is spent: waiting until {when}"
        if not bars.waiting(message):
            self.stdout.write(message)

    def _report_usage(self, spec: DrChronoSourceSpec) -> None:
        usage = spec.usage
        self.stdout.write(
            f"DrChrono: {usage.api_total} API calls (the hourly allowance counts these), "
            f"{usage.file_downloads} file downloads from signed URLs (not counted)"
        )

    def _source(self, options: dict[str, object]) -> tuple[SourceSpec, str]:
        if options["source"] == "demo":
            patients = options["patients"]
            if patients is None or not MIN_PATIENTS <= patients <= MAX_PATIENTS:
                raise CommandError(f"--patients must be {MIN_PATIENTS} to {MAX_PATIENTS}")
            name = str(options["practice_name"] or DEMO_PRACTICE_NAME)
            spec = DemoSourceSpec(
                patients=patients,
                seed=options["seed"],
                practice_name=name,
                large_document_bytes=options["large_document_bytes"],
            )
            return spec, name
        if options["source"] == "fhir-bulk":
            return fhir_bulk_spec(options)
        return self._drchrono(options)

    def _drchrono(self, options: dict[str, object]) -> tuple[SourceSpec, str]:
        missing = [
            option
            for option in ("client_id", "client_secret", "token_file", "practice_name")
            if not options[option]
        ]
        if missing:
            names = ", ".join("--" + option.replace("_", "-") for option in missing)
            raise CommandError(f"--source drchrono needs {names}")
        token_file: Path = options["token_file"]
        if options["refresh_token"]:
            tokens = initial_tokens(str(options["access_token"]), str(options["refresh_token"]))
        elif token_file.exists():
            try:
                tokens = load_tokens(token_file)
            except SourceError as exc:
                raise CommandError(str(exc)) from None
        else:
            raise CommandError(
                "--source drchrono needs --refresh-token (or DRCHRONO_REFRESH_TOKEN), or a "
                "--token-file saved by an earlier run"
            )
        spec = DrChronoSourceSpec(
            settings=ClientSettings(
                base_url=settings.DRCHRONO_API_BASE_URL,
                token_url=settings.DRCHRONO_TOKEN_URL,
                client_id=str(options["client_id"]),
                client_secret=str(options["client_secret"]),
                max_attempts=settings.DRCHRONO_MAX_ATTEMPTS,
                backoff_base=settings.DRCHRONO_BACKOFF_MS / 1000,
                file_downloads_per_second=settings.DRCHRONO_FILE_DOWNLOADS_PER_SECOND,
            ),
            tokens=tokens,
            token_file=token_file,
            requests_per_hour=settings.DRCHRONO_REQUESTS_PER_HOUR,
            include_source_ccda=settings.DRCHRONO_SOURCE_CCDA,
            work_dir=options["work_dir"] or _private_folder(options["out"]),
            clock=CLOCK,
        )
        return spec, str(options["practice_name"])


class _ProgressBars:
    """A tqdm bar per stage, on a terminal only (a pipe or a log file gets none)."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self.stage: str | None = None
        self.bar: tqdm | None = None

    def __enter__(self) -> _ProgressBars:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._close()

    def update(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        if stage != self.stage:
            self._close()
            description, unit, scale = _BAR_UNITS[stage]
            self.stage = stage
            self.bar = tqdm(total=total, desc=description, unit=unit, unit_scale=scale)
        assert self.bar is not None
        self.bar.total = total
        if done > self.bar.n:
            self.bar.set_postfix_str("", refresh=False)  # moving again: no longer waiting
        self.bar.update(done - self.bar.n)

    def waiting(self, message: str) -> bool:
        """Say on the bar that the run waits, and until when; False when there is no bar."""
        if self.bar is None:
            return False
        self.bar.set_postfix_str(message)
        return True

    def _close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _private_folder(parent: Path) -> Path:
    parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=WORK_FOLDER_PREFIX, dir=parent))  # mode 0700
