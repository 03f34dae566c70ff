"""The deliverable: its folder tree, workbook, image index, manifest and reconciliation.

Extraction runs as batches (``extract_batch``), anywhere and as often as needed; one
``package`` step then merges what the batches spooled.
"""

from .batch import BatchResult, extract_batch
from .errors import PackagingError
from .layout import ExportLayout
from .package import PackageResult, package
from .reconciliation import Reconciliation, ReconciliationLine

__all__ = [
    "BatchResult",
    "ExportLayout",
    "PackageResult",
    "PackagingError",
    "Reconciliation",
    "ReconciliationLine",
    "extract_batch",
    "package",
]
