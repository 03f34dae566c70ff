"""The package step: the batches' spools become the workbook, image index, manifest and
reconciliation, inside the tree the batches wrote.

Runs once, after every batch has committed, on any machine that sees the staging folder.
Everything is merged in batch order, streaming: memory does not grow with the practice. The
batches did most of the work as they finished, on every core: their workbook rows come rendered
(``rendered_rows``: here they are only numbered, and rendered from the spool only for a batch
that has none), their manifest lines and image-index rows already in the files' own form
(``manifest``, ``image_index``: here they are merged and checked, or copied).
Order matters: the reconciliation, workbook and image index are written first so the manifest,
written last, can list them; then the files that describe the tree (``documents``: data
package, readme, SHA256SUMS) are written, and the tree is counted to prove it holds exactly the
manifest's files plus those, so no stray file from an earlier run ships unlisted.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TypeVar

from exports.sources.records import Category, FaxOrReferral, RecordExclusion, RecordFailure
from exports.timings import StageTimings, measured

from .batch import tree_dir
from .documents import describe_deliverable
from .errors import PackagingError
from .image_index import write_image_index
from .layout import ExportLayout
from .manifest import hash_file, merged_rows, write_manifest
from .reconciliation import Reconciliation, Tally, reconcile
from .rendered_rows import batch_rows
from .rows import Sheet
from .sheet_xml import RenderedRow
from .spool import CommittedBatch
from .tree import remove_temporary_files, replacing
from .workbook import EXCEL_MAX_ROWS, write_rendered_workbook

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PackageResult:
    """The finished tree, ready to archive, and its accounting."""

    root: Path  # the deliverable's root folder on disk: archive it with its name
    reconciliation: Reconciliation
    files: int  # files listed in the manifest (all but the manifest itself)
    bytes: int
    manifest: PurePosixPath  # from the tree folder, as manifest rows name files
    manifest_sha256: str  # of the manifest file: the request keeps it as the tree's fingerprint
    members_dirs: tuple[Path, ...]  # the batches' zip members, for the archive (``members``)


def package(
    staging: Path,
    batch_numbers: Iterable[int],
    *,
    layout: ExportLayout,
    counts_in_source: Mapping[Category, int],
    unattached: Iterable[FaxOrReferral],
    outside_patients: Iterable[RecordFailure] = (),
    excluded_outside_patients: Iterable[RecordExclusion] = (),
    notes: Iterable[str] = (),
    max_rows_per_sheet: int = EXCEL_MAX_ROWS,
    timings: StageTimings | None = None,
    heartbeat: Callable[[], None] | None = None,
) -> PackageResult:
    """Write the package files into ``staging/tree/<root>/`` and return the accounting.

    ``counts_in_source``, ``unattached``, ``outside_patients`` and
    ``excluded_outside_patients`` come from the source (``counts_in_source()``,
    ``unattached_records()``, ``records_outside_patients()`` and
    ``exclusions_outside_patients()``): unattached faxes and referrals and the exclusions are
    counted excluded, records outside patients failed.
    Raises ``PackagingError`` when a batch has not committed or the tree and the batches
    disagree. An unbalanced reconciliation is returned, not raised: the caller fails the
    export on ``not result.reconciliation.is_balanced``. ``timings`` (for the benchmark) gets
    the time spent on the workbook (its rows and bytes) and the manifest (files listed, its
    bytes). ``heartbeat`` is called for every row and file merged (often: make it cheap), so a
    long packaging step shows it is alive.
    """

    def beating(items: Iterable[T]) -> Iterator[T]:
        for item in items:
            if heartbeat is not None:
                heartbeat()
            yield item

    batches = [CommittedBatch(staging, number) for number in sorted(set(batch_numbers))]
    tree = tree_dir(staging)
    for batch in batches:  # what a batch's process did not live to file
        batch.publish(tree)
    for folder in (layout.clinical, layout.images):
        (tree / folder).mkdir(parents=True, exist_ok=True)

    tally = Tally()
    for batch in beating(batches):
        tally.add(batch.tally())
    for failure in outside_patients:
        tally.failed(failure.category, failure.record_id, failure.reason)
    for exclusion in excluded_outside_patients:
        tally.excluded(exclusion.category, exclusion.reason)
    reconciliation = reconcile(tally, counts_in_source, unattached, notes)
    with replacing(tree / layout.reconciliation) as temp:
        temp.write_bytes(reconciliation.to_csv())

    def sheet_rows(sheet: Sheet) -> Iterator[RenderedRow]:
        for batch in batches:
            yield from beating(batch_rows(batch, sheet, layout.workbook.parent))

    with measured(timings, "workbook") as workbook_stage:
        workbook_stage.records += write_rendered_workbook(
            tree / layout.workbook,
            sheet_rows,
            export_date=layout.export_date,
            max_rows=max_rows_per_sheet,
            work_dir=staging,
        )
        workbook_stage.bytes += (tree / layout.workbook).stat().st_size
    with replacing(tree / layout.image_index) as temp, temp.open("wb") as out:
        write_image_index(beating(batch.image_rows_path() for batch in batches), out)

    with measured(timings, "manifest") as manifest_stage:
        package_files = [
            hash_file(tree, path)
            for path in (layout.reconciliation, layout.workbook, layout.image_index)
        ]
        with tempfile.TemporaryDirectory(dir=staging) as work_dir:
            files, size = write_manifest(
                tree / layout.manifest,
                beating(
                    merged_rows(
                        [batch.manifest_path for batch in batches], package_files, Path(work_dir)
                    )
                ),
                tree,
            )
        manifest_stage.records += files
        manifest_stage.bytes += (tree / layout.manifest).stat().st_size
    described = describe_deliverable(tree, layout, reconciliation)
    unlisted = remove_temporary_files(tree) - files - 1 - len(described)
    if unlisted:
        raise PackagingError(
            f"the staging tree holds {unlisted} files no batch listed: clear it and re-run"
        )
    logger.info(
        "Packaged %d batches: %d files, %d bytes, reconciliation %s",
        len(batches),
        files,
        size,
        "balanced" if reconciliation.is_balanced else "UNBALANCED",
    )
    _, _, manifest_sha256 = hash_file(tree, layout.manifest)
    return PackageResult(
        tree / layout.root,
        reconciliation,
        files,
        size,
        layout.manifest,
        manifest_sha256,
        tuple(batch.members_dir for batch in batches),
    )
