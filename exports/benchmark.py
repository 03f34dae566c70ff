"""The export benchmark (``make bench``, ``manage.py benchmark_export``): the whole export of
demo practices of growing sizes, stage by stage, in wall seconds and CPU-seconds, beside the
floors it compares with.

Each size runs in a fresh Python process (``run_size_in_child``), so one size's
memory never shows in another's peak. That process runs the steps of ``exports.stages`` as
``manage.py export_practice`` does: batches extracted by a pool of worker processes (one per
CPU), then packaging and the archive in the main process, with a ``StageTimings`` recorder
threaded through. Then, on the same tree, it times the floors: ``zip -r`` of the tree (the
archive's), lxml serialising the same C-CDA documents (the C-CDA build's), ``cp -r`` (the
disk's), and the same workbook rows written by bare openpyxl. Peak memory is the peak resident
set (``VmHWM``, else ``ru_maxrss``) of the main process, taken before the floors run, and of
each worker, reported with every batch.

CPU-seconds (user and system) are the steadier measure on a shared machine. Stages done by the
workers (source, files, C-CDA) are timed in each worker and summed: their seconds are
worker-seconds, their CPU that worker's. "extraction", "package", "archive" and "total" take
the CPU of the whole process tree (this process, the workers, the pool's server and whatever
they waited for: ``tree_cpu_seconds``), while their seconds are wall time. The
demo source makes its files' bytes (PDFs, JPEGs) as they are streamed (another source
downloads them then): each chunk's making is timed as it is pulled and counts under "read
source", not "write files".
"""

from __future__ import annotations

import json
import multiprocessing
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from itertools import pairwise
from pathlib import Path

import psutil
from lxml import etree

from exports import stages
from exports.archive import DEFAULT_PART_BYTES
from exports.deliverable_schema import SHEETS
from exports.local_export import SOURCE_SPOOL_FOLDER
from exports.local_sources import DemoSourceSpec
from exports.packaging.batch import BatchResult
from exports.packaging.cells import xml_text
from exports.packaging.layout import CCDA_FILES, CLINICAL_DATA_EXPORT
from exports.packaging.package import PackageResult
from exports.packaging.rows import decode_row
from exports.packaging.spool import CommittedBatch
from exports.passwords import generate_archive_password
from exports.sources.base import PracticeSource
from exports.sources.demo import DEFAULT_LARGE_DOCUMENT_BYTES
from exports.timings import StageTimings, StageTotals

DEFAULT_SIZES = (1_000, 4_000, 16_000)
#: the issue's targets (issue 19), checked against each run and printed, never asserted
TARGET_CPU_PER_1K = 15.0
TARGET_SECONDS_FOR_10K = 60.0  # on a quiet 2-core machine
TARGET_TIME_GROWTH_PER_4X = 4.2
TARGET_PEAK_RSS_BYTES = 300 * 1024 * 1024
TARGET_MEMORY_GROWTH = 1.25  # "flat"

_CONTEXT = stages.ExportContext(
    practice_name="Benchmark Family Practice",
    practice_key="benchmark",
    reference="BENCH-000001",
    export_date=date(2025, 7, 1),
    started_at=datetime(2025, 7, 1, 9, 0, tzinfo=UTC),
)
#: table rows: (label, stage recorded, records counted as)
_STAGE_ROWS = (
    ("read source", "source", "patients"),
    ("write files", "files", "files"),
    ("C-CDA build", "ccda build", "patients"),
    ("C-CDA validate", "ccda validate", "patients"),
    ("extraction (wall)", "extraction", "patients"),
    ("workbook", "workbook", "rows"),
    ("manifest", "manifest", "files"),
    ("package, other", "package other", "batches"),
    ("archive", "archive", "files"),
    ("end to end", "total", "patients"),
)
_WORKER_STAGES = ("source", "ccda build", "ccda validate")
#: what a size's process runs (not ``-m``: the worker pool would import this module twice)
_CHILD_PROGRAM = "import sys; from exports.benchmark import main; main(sys.argv[1:])"


@dataclass(frozen=True)
class SizeSettings:
    """What one size's run needs; travels to its process as JSON."""

    patients: int
    workers: int
    batch_size: int
    work_dir: str
    seed: int = 1
    large_document_bytes: int = DEFAULT_LARGE_DOCUMENT_BYTES
    baselines: bool = True


@dataclass
class SizeReport:
    """One size's measurements."""

    patients: int
    workers: int
    stages: dict[str, StageTotals]
    peak_rss_main: int  # bytes
    peak_rss_worker: int  # bytes, the largest of the workers
    tree_files: int
    tree_bytes: int
    #: name -> (wall seconds, CPU-seconds of the process tree)
    baselines: dict[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return self.stages["total"].seconds

    @property
    def cpu(self) -> float:
        return self.stages["total"].cpu

    def cpu_per_1k(self, stage: str = "total") -> float:
        return self.stages[stage].cpu / self.patients * 1000

    @property
    def peak_rss_run(self) -> int:
        """An upper bound of the run's resident memory: the main process and every worker
        at their peaks at once."""
        return self.peak_rss_main + self.workers * self.peak_rss_worker

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> SizeReport:
        data = json.loads(text)
        data["stages"] = {name: StageTotals(**totals) for name, totals in data["stages"].items()}
        data["baselines"] = {name: tuple(times) for name, times in data["baselines"].items()}
        return cls(**data)


def tree_cpu_seconds() -> float:
    """CPU-seconds (user and system) spent so far by this process and all its descendants.

    A descendant still running counts its own times; one that ended counts in the times of
    the process that waited for it (``children_user``/``children_system``), so the pool's
    workers count once whether they are alive or already reaped by the pool's server.
    """
    total = 0.0
    this = psutil.Process()
    for process in (this, *this.children(recursive=True)):
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:  # ended since listed: its waiter has its times
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total


@contextmanager
def measure_tree(timings: StageTimings, stage: str) -> Iterator[StageTotals]:
    """``timings.measure(stage)`` with the CPU of the whole process tree, not of this one."""
    cpu_started = tree_cpu_seconds()
    with timings.measure(stage) as totals:
        yield totals
    totals.cpu = tree_cpu_seconds() - cpu_started


# --- one size, in its own process ------------------------------------------------------------


def measure_size(settings: SizeSettings) -> SizeReport:
    """Export a demo practice of ``settings.patients`` in this process and a worker pool, then
    time the baselines on its tree. Everything is written under ``settings.work_dir`` and
    removed at the end."""
    spec = DemoSourceSpec(
        patients=settings.patients,
        seed=settings.seed,
        practice_name=_CONTEXT.practice_name,
        large_document_bytes=settings.large_document_bytes,
    )
    run_dir = Path(tempfile.mkdtemp(prefix="export-benchmark-", dir=settings.work_dir))
    try:
        staging = run_dir / "staging"
        (staging / SOURCE_SPOOL_FOLDER).mkdir(parents=True)
        timings = StageTimings()
        with measure_tree(timings, "total") as total:
            with spec.open(staging / SOURCE_SPOOL_FOLDER) as source:
                with measure_tree(timings, "extraction") as extraction:
                    batch_numbers, worker_rss = _extract(source, spec, settings, staging, timings)
                    extraction.records += settings.patients
                with measure_tree(timings, "package") as package_stage:
                    packaged = stages.run_package(source, _CONTEXT, staging, batch_numbers, timings)
                    package_stage.records += len(batch_numbers)
            if not packaged.reconciliation.is_balanced:
                raise RuntimeError("the benchmark's export did not balance: nothing was archived")
            archive_dir = run_dir / "archive"
            archive_dir.mkdir()
            with measure_tree(timings, "archive") as archive_stage:
                stages.run_archive(
                    packaged,
                    archive_dir,
                    generate_archive_password(),
                    part_bytes=DEFAULT_PART_BYTES,
                )
                archive_stage.records += packaged.files
                archive_stage.bytes += packaged.bytes
            total.records = settings.patients
        peak_rss_main = _max_rss_bytes()
        shutil.rmtree(archive_dir)
        report = SizeReport(
            patients=settings.patients,
            workers=settings.workers,
            stages=_table_stages(timings, packaged),
            peak_rss_main=peak_rss_main,
            peak_rss_worker=worker_rss,
            tree_files=packaged.files,
            tree_bytes=packaged.bytes,
        )
        if settings.baselines:
            report.baselines = time_baselines(packaged, staging, batch_numbers, run_dir)
        return report
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


def _extract(
    source: PracticeSource,
    spec: DemoSourceSpec,
    settings: SizeSettings,
    staging: Path,
    timings: StageTimings,
) -> tuple[list[int], int]:
    """Every batch through the worker pool; returns the batch numbers and the largest peak
    RSS a worker reported."""
    numbers: list[int] = []
    worker_rss = 0
    context = multiprocessing.get_context("forkserver")  # as exports.local_export's pool
    context.set_forkserver_preload([__name__])
    with ProcessPoolExecutor(max_workers=settings.workers, mp_context=context) as pool:
        in_flight: set[Future[tuple[BatchResult, StageTimings, int]]] = set()

        def collect_one() -> None:
            nonlocal worker_rss
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in done:
                in_flight.remove(future)
                _result, batch_timings, rss = future.result()
                timings.merge(batch_timings)
                worker_rss = max(worker_rss, rss)

        batches = stages.plan_batches(source, settings.batch_size)
        for number, patient_ids in enumerate(batches, start=1):
            while len(in_flight) >= 2 * settings.workers:
                collect_one()
            in_flight.add(pool.submit(extract_timed_batch, spec, patient_ids, staging, number))
            numbers.append(number)
        while in_flight:
            collect_one()
    return numbers, worker_rss


def extract_timed_batch(
    spec: DemoSourceSpec, patient_ids: Sequence[str], staging: Path, number: int
) -> tuple[BatchResult, StageTimings, int]:
    """One batch in a worker: its result, its timings and the worker's peak RSS so far."""
    timings = StageTimings()
    with spec.open(staging / SOURCE_SPOOL_FOLDER) as source:
        result = stages.run_batch(source, _CONTEXT, patient_ids, staging, number, timings)
    return result, timings, _max_rss_bytes()


def _table_stages(timings: StageTimings, packaged: PackageResult) -> dict[str, StageTotals]:
    """The recorded stages as the table shows them: "files" is what a batch spent besides
    the source and the C-CDAs, "package other" what packaging spent besides the workbook and
    the manifest."""
    recorded = timings.stages
    batch = recorded["batch"]
    files = StageTotals(
        seconds=batch.seconds - sum(recorded[stage].seconds for stage in _WORKER_STAGES),
        records=batch.records,
        bytes=batch.bytes,
    )
    files.cpu = batch.cpu - sum(recorded[stage].cpu for stage in _WORKER_STAGES)
    package = recorded["package"]
    package_other = StageTotals(
        seconds=package.seconds - recorded["workbook"].seconds - recorded["manifest"].seconds,
        records=package.records,
        cpu=package.cpu - recorded["workbook"].cpu - recorded["manifest"].cpu,
    )
    return {
        **{stage: recorded[stage] for stage in _WORKER_STAGES},
        "files": files,
        "extraction": recorded["extraction"],
        "workbook": recorded["workbook"],
        "manifest": recorded["manifest"],
        "package other": package_other,
        "archive": recorded["archive"],
        "total": recorded["total"],
    }


def _max_rss_bytes() -> int:
    """This process's peak resident memory. On Linux from ``VmHWM``: ``ru_maxrss`` survives
    ``exec``, so a size's process would report the peak of the command that started it."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


# --- baselines --------------------------------------------------------------------------------


def time_baselines(
    packaged: PackageResult, staging: Path, batch_numbers: Sequence[int], run_dir: Path
) -> dict[str, tuple[float, float]]:
    """Wall seconds and CPU-seconds of each floor on the export's own tree and rows."""
    root = packaged.root
    target = run_dir / "zip-r.zip"
    floors = {
        "zip -r": _time(lambda: _run(["zip", "-r", "-q", str(target), root.name], cwd=root.parent))
    }
    target.unlink()
    floors["lxml"] = _lxml_serialisation(root / CLINICAL_DATA_EXPORT / CCDA_FILES)
    copy = run_dir / "copy"
    floors["cp -r"] = _time(lambda: _run(["cp", "-r", str(root), str(copy)]))
    shutil.rmtree(copy)
    floors["openpyxl"] = _time(lambda: _bare_openpyxl(staging, batch_numbers, run_dir))
    return floors


def _lxml_serialisation(ccda_folder: Path) -> tuple[float, float]:
    """Wall and CPU seconds lxml takes to serialise the tree's C-CDAs, parsed beforehand (one
    at a time, the parsing not counted): what building the same documents cannot beat."""
    wall = cpu = 0.0
    with os.scandir(ccda_folder) as entries:
        for entry in entries:
            if not entry.name.endswith(".xml"):
                continue
            document = etree.parse(entry.path)
            started, cpu_started = time.perf_counter(), time.process_time()
            etree.tostring(document, xml_declaration=True, encoding="UTF-8")
            wall += time.perf_counter() - started
            cpu += time.process_time() - cpu_started
    return wall, cpu


def _bare_openpyxl(staging: Path, batch_numbers: Sequence[int], run_dir: Path) -> None:
    """The same rows, read from the same spools, through openpyxl write-only with nothing
    else: no styles, widths, filters or formula quoting. XML-illegal characters are still
    removed (openpyxl refuses them)."""
    # Imported here: the pool's workers import this module, and an export's workers (those of
    # export_practice) do not load openpyxl; the benchmark's should weigh what theirs do.
    from openpyxl import Workbook

    batches = [CommittedBatch(staging, number) for number in batch_numbers]
    workbook = Workbook(write_only=True)
    for sheet in SHEETS:
        worksheet = workbook.create_sheet(sheet.name)
        worksheet.append([column.header for column in sheet.columns])
        for batch in batches:
            for row in batch.rows(sheet):
                worksheet.append(
                    [
                        xml_text(value) if isinstance(value, str) else value
                        for value in decode_row(sheet, row)
                    ]
                )
    target = run_dir / "bare-openpyxl.xlsx"
    workbook.save(target)
    target.unlink()


def _time(action: Callable[[], object]) -> tuple[float, float]:
    """Wall seconds and CPU-seconds of the process tree (commands run included)."""
    started, cpu_started = time.perf_counter(), tree_cpu_seconds()
    action()
    return time.perf_counter() - started, tree_cpu_seconds() - cpu_started


def _run(command: list[str], cwd: Path | None = None) -> None:
    subprocess.run(command, cwd=cwd, check=True, stdout=subprocess.DEVNULL)  # noqa: S603 (ours)


# --- all sizes, and the table ----------------------------------------------------------------


def run_size_in_child(settings: SizeSettings) -> SizeReport:
    """``measure_size`` in a fresh Python process (its output is its report, as JSON)."""
    project_root = Path(__file__).resolve().parent.parent
    completed = subprocess.run(  # noqa: S603 (this interpreter, this module)
        [sys.executable, "-c", _CHILD_PROGRAM, json.dumps(asdict(settings))],
        cwd=project_root,
        check=False,
        stdout=subprocess.PIPE,
        text=True,
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"the benchmark of {settings.patients} patients failed "
            f"(exit status {completed.returncode}; its error is above)"
        )
    return SizeReport.from_json(completed.stdout.strip().splitlines()[-1])


def run_benchmark(
    sizes: Sequence[int],
    *,
    workers: int,
    batch_size: int,
    work_dir: Path,
    large_document_bytes: int = DEFAULT_LARGE_DOCUMENT_BYTES,
    baselines: bool = True,
    on_size_done: Callable[[SizeReport], None] | None = None,
) -> list[SizeReport]:
    """Measure every size, each in its own process, smallest first."""
    reports = []
    for patients in sorted(sizes):
        settings = SizeSettings(
            patients=patients,
            workers=workers,
            batch_size=batch_size,
            work_dir=str(work_dir),
            large_document_bytes=large_document_bytes,
            baselines=baselines,
        )
        report = run_size_in_child(settings)
        reports.append(report)
        if on_size_done is not None:
            on_size_done(report)
    return reports


def format_report(reports: Sequence[SizeReport]) -> list[str]:
    """The benchmark's table, baselines, growth ratios and targets, as lines of text."""
    lines: list[str] = []
    for report in reports:
        lines.extend(_size_table(report))
        lines.append("")
    if len(reports) > 1:
        lines.extend(_growth(reports))
        lines.append("")
    lines.extend(_targets(reports))
    return lines


def _size_table(report: SizeReport) -> Iterator[str]:
    yield (
        f"{report.patients:,} patients, {report.workers} workers: {report.tree_files:,} files, "
        f"{_mb(report.tree_bytes):,.1f} MB in the tree"
    )
    header = (
        f"{'stage':<20} {'seconds':>9} {'CPU-s':>9} {'CPU-s/1k':>9} "
        f"{'records/s':>11} {'(records)':<10} {'MB/s':>8}"
    )
    yield header
    yield "-" * len(header)
    for label, stage, unit in _STAGE_ROWS:
        totals = report.stages[stage]
        rate = totals.records / totals.seconds if totals.seconds > 0 else 0.0
        mb_per_second = f"{_mb(totals.bytes) / totals.seconds:8.1f}" if totals.bytes else "       -"
        if stage == "total":
            mb_per_second = f"{_mb(report.tree_bytes) / totals.seconds:8.1f}"
        yield (
            f"{label:<20} {totals.seconds:9.3f} {totals.cpu:9.3f} "
            f"{report.cpu_per_1k(stage):9.2f} {rate:11,.0f} {unit:<10} {mb_per_second}"
        )
    yield (
        "(read source, write files and C-CDA: summed over the workers; extraction, archive and "
        "end to end: seconds are wall time, CPU-s the whole process tree's; CPU-s/1k: per "
        "1,000 patients)"
    )
    built = report.stages["ccda build"]
    if built.records:
        yield (
            f"C-CDA size: mean {built.bytes / built.records / 1000:,.1f} KB, "
            f"largest {built.largest / 1000:,.1f} KB ({built.records:,} generated)"
        )
    yield (
        f"peak RSS: main process {_mb(report.peak_rss_main):.0f} MB, largest worker "
        f"{_mb(report.peak_rss_worker):.0f} MB, run (main + {report.workers} workers) "
        f"{_mb(report.peak_rss_run):.0f} MB"
    )
    if report.baselines:
        yield f"{'floor (ours vs it)':<44} {'seconds':>17} {'CPU-s':>21}"
    for name, (seconds, cpu) in report.baselines.items():
        stage, label = _FLOORS[name]
        ours = report.stages[stage]
        yield (
            f"{label:<44} {ours.seconds:7.2f} vs {seconds:7.2f} {ours.seconds / seconds:5.2f}x"
            f" {ours.cpu:7.2f} vs {cpu:7.2f} {ours.cpu / cpu if cpu else 0.0:5.2f}x"
        )


#: floor name -> (our stage it bounds, label)
_FLOORS = {
    "zip -r": ("archive", "archive vs zip -r of the tree"),
    "lxml": ("ccda build", "C-CDA build vs lxml serialising the same"),
    "cp -r": ("archive", "archive vs cp -r of the tree (the disk)"),
    "openpyxl": ("workbook", "workbook vs bare openpyxl write-only"),
}


def _growth(reports: Sequence[SizeReport]) -> Iterator[str]:
    yield "growth between sizes (ratio of patients; of wall time; of CPU; of peak RSS, main, run)"
    for smaller, larger in pairwise(reports):
        yield _growth_line(smaller, larger)
    if len(reports) > 2:
        yield _growth_line(reports[0], reports[-1])


def _growth_line(smaller: SizeReport, larger: SizeReport) -> str:
    return (
        f"{larger.patients:>7,} over {smaller.patients:>7,}: patients "
        f"{larger.patients / smaller.patients:5.2f}x, "
        f"time {larger.seconds / smaller.seconds:5.2f}x, "
        f"CPU {larger.cpu / smaller.cpu:5.2f}x, "
        f"RSS main {larger.peak_rss_main / smaller.peak_rss_main:4.2f}x, "
        f"run {larger.peak_rss_run / smaller.peak_rss_run:4.2f}x"
    )


def _targets(reports: Sequence[SizeReport]) -> Iterator[str]:
    yield "targets (issue 19)"
    largest = reports[-1]
    yield _target(
        f"CPU-s per 1,000 patients at {largest.patients:,}: {largest.cpu_per_1k():.1f}",
        largest.cpu_per_1k() <= TARGET_CPU_PER_1K,
        f"<= {TARGET_CPU_PER_1K:.0f}",
    )
    per_10k = largest.seconds / largest.patients * 10_000
    yield _target(
        f"10,000 patients end to end (from {largest.patients:,}, per patient): {per_10k:.0f} s",
        per_10k < TARGET_SECONDS_FOR_10K,
        f"< {TARGET_SECONDS_FOR_10K:.0f} s",
    )
    # What the CPU alone needs with every worker's core busy throughout: the wall time's floor.
    cpu_bound = largest.cpu_per_1k() * 10 / largest.workers
    yield _target(
        f"10,000 patients' CPU over {largest.workers} cores, all busy: {cpu_bound:.0f} s",
        cpu_bound < TARGET_SECONDS_FOR_10K,
        f"< {TARGET_SECONDS_FOR_10K:.0f} s",
    )
    if len(reports) > 1:
        smaller = reports[-2]
        # Scaled to the target's 4x step when the sizes differ.
        limit = TARGET_TIME_GROWTH_PER_4X / 4 * (largest.patients / smaller.patients)
        for measure, growth in (
            ("time", largest.seconds / smaller.seconds),
            ("CPU", largest.cpu / smaller.cpu),
        ):
            yield _target(
                f"{measure} {largest.patients:,} over {smaller.patients:,}: {growth:.2f}x",
                growth <= limit,
                f"<= {limit:.2f}x",
            )
        memory_growth = largest.peak_rss_run / reports[0].peak_rss_run
        yield _target(
            f"peak RSS {largest.patients:,} over {reports[0].patients:,}: {memory_growth:.2f}x",
            memory_growth < TARGET_MEMORY_GROWTH,
            f"< {TARGET_MEMORY_GROWTH}x",
        )
    peak = max(report.peak_rss_run for report in reports)
    yield _target(
        f"peak RSS (main + workers): {_mb(peak):.0f} MB",
        peak < TARGET_PEAK_RSS_BYTES,
        f"< {_mb(TARGET_PEAK_RSS_BYTES):.0f} MB",
    )


def _target(text: str, met: bool, goal: str) -> str:
    return f"  {'met    ' if met else 'MISSED '} {text} (target {goal})"


def _mb(size: int) -> float:
    """Bytes in MiB (the table's "MB")."""
    return size / 2**20


def main(argv: Sequence[str]) -> None:
    """One size's process: ``argv`` is its ``SizeSettings`` as JSON; the report goes to
    standard output as JSON, on the last line."""
    settings = SizeSettings(**json.loads(argv[0]))
    report = measure_size(settings)
    sys.stdout.write(report.to_json() + "\n")
