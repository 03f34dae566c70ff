"""``patient_images_index.csv``: one row per shipped image, so every image can be found.

UTF-8 with a BOM (Excel then reads names in any script correctly), CRLF line ends, and text
Excel would take for a formula prefixed with ``'``. Paths are from the archive root, exactly as
in the workbook.

Each batch writes its rows as the index holds them (``ImageRowsWriter``, from the batch's
spool), so the package step only writes the header and copies the batches' files after it, in
batch order.
"""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Iterable, Sequence
from datetime import date
from pathlib import Path, PurePosixPath
from typing import IO

from exports.deliverable_schema import IMAGE_INDEX
from exports.sources.records import Demographics, InsurancePriority

from .cells import csv_text
from .naming import dob_part

PHOTO = "photo"
INSURANCE_CARD = "insurance card"
_LINE_END = "\r\n"


def image_row(
    patient: Demographics,
    path: PurePosixPath,
    *,
    taken_on: date | None,
    priority: InsurancePriority | None = None,
    side: str = "",
) -> list[str]:
    """A row of the index. ``taken_on``: the photo's date, or the card's coverage start."""
    return [
        patient.id,
        patient.chart_id,
        patient.last_name,
        patient.first_name,
        dob_part(patient),
        PHOTO if priority is None else INSURANCE_CARD,
        "" if priority is None else priority.value,
        side,
        str(path),
        "" if taken_on is None else taken_on.isoformat(),
    ]


class ImageRowsWriter:
    """A batch's rows of the index, in the index's own bytes (encoding, quoting, line ends)."""

    def __init__(self, path: Path) -> None:
        # Unencodable text (a lone surrogate from a source's bad JSON) becomes "?", as it
        # always did in the index.
        self._file = path.open("w", encoding="utf-8", errors="replace", newline="")
        self._writer = csv.writer(self._file, lineterminator=_LINE_END)

    def add(self, values: Sequence[str]) -> None:
        self._writer.writerow([csv_text(value) for value in values])

    def close(self) -> None:
        self._file.close()


def write_image_index(batch_files: Iterable[Path], out: IO[bytes]) -> None:
    """Write the header and then each of ``batch_files`` (``ImageRowsWriter``'s) to ``out``."""
    header = io.StringIO()
    header.write("\ufeff")
    csv.writer(header, lineterminator=_LINE_END).writerow(IMAGE_INDEX.headers)
    out.write(header.getvalue().encode("utf-8"))
    for path in batch_files:
        with path.open("rb") as rows:
            shutil.copyfileobj(rows, out)
