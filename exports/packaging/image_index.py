"""``patient_images_index.csv``: one row per shipped image, so every image can be found.

UTF-8 with a BOM (Excel then reads names in any script correctly), CRLF line ends, and text
Excel would take for a formula prefixed with ``'``. Paths are from the archive root, exactly as
in the workbook.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from datetime import date
from pathlib import PurePosixPath
from typing import IO

from exports.deliverable_schema import IMAGE_INDEX
from exports.sources.records import Demographics, InsurancePriority

from .cells import csv_text
from .naming import dob_part

PHOTO = "photo"
INSURANCE_CARD = "insurance card"


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


def write_image_index(rows: Iterable[Sequence[str]], out: IO[str]) -> None:
    """Write the header and ``rows`` to ``out`` (a text file opened with ``newline=""``)."""
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(IMAGE_INDEX.headers)
    for row in rows:
        writer.writerow([csv_text(value) for value in row])
