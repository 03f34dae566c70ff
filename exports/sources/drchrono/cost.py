"""What reading a DrChrono practice costs, from the sizes of its lists.

API calls are what DrChrono's hourly allowance counts: each list costs its pages at the
largest page it allows (1,000 for a bulk list, plus one poll a page; 250 for a paged list; 25
for verbose appointments when the bulk list is refused), and each source C-CDA one call.
File downloads come from signed URLs and are not counted against the allowance; they are
estimated from the lists whose records carry a file (at most one each, shared lab reports
once). The benchmark's lower bound is the same arithmetic over the records actually read.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from .bulk import BULK_PAGE_SIZE
from .source import practice_walks

#: Files a record of each list points to, at most (a locked note's PDF, a document, a lab
#: report, a message's attachment, a patient's photo and card images counted as one).
FILES_PER_RECORD = {
    "patients": 1,
    "appointments": 1,
    "documents": 1,
    "lab_documents": 1,
    "patient_lab_results": 1,
    "patient_messages": 1,
    "messages": 1,
}


@dataclass(frozen=True, slots=True)
class ReadingCost:
    """API calls by list, source C-CDA calls, and file downloads."""

    list_calls: Mapping[str, int]
    source_ccda_calls: int
    file_downloads: int

    @property
    def api_calls(self) -> int:
        return sum(self.list_calls.values()) + self.source_ccda_calls


def calls_for_list(name: str, records: int | None) -> int:
    """The fewest API calls that read a list of ``records`` (one page when unknown)."""
    walk = next(walk for walk in practice_walks() if walk.name == name)
    page, per_page = (BULK_PAGE_SIZE, 2) if walk.bulk_path else (walk.page_size, 1)
    return max(1, math.ceil((records or 0) / page)) * per_page


def reading_cost(sizes: Mapping[str, int | None], *, include_source_ccda: bool) -> ReadingCost:
    """The cost of reading a practice whose lists hold ``sizes`` records (by list name)."""
    list_calls = {
        walk.name: calls_for_list(walk.name, sizes.get(walk.name)) for walk in practice_walks()
    }
    patients = sizes.get("patients") or 0
    files = sum((sizes.get(name) or 0) * count for name, count in FILES_PER_RECORD.items())
    return ReadingCost(
        list_calls=list_calls,
        source_ccda_calls=patients if include_source_ccda else 0,
        file_downloads=files,
    )
