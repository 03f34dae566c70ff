"""The files that describe the deliverable: ``datapackage.json`` and ``Read me first.html`` at
its root, then ``SHA256SUMS`` beside the manifest, covering every file including those two.

Written once the manifest is complete (they describe and check what it lists), rewritten
whole when packaging runs again.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from exports.data_dictionary import dictionary_url

from .checksums import write_checksums
from .datapackage import write_data_package
from .layout import ExportLayout
from .readme import write_readme
from .reconciliation import Reconciliation


def describe_deliverable(
    tree_dir: Path, layout: ExportLayout, reconciliation: Reconciliation
) -> tuple[PurePosixPath, ...]:
    """Write the three files into ``tree_dir``; return their paths from it."""
    url = dictionary_url()
    datapackage = write_data_package(layout, tree_dir, dictionary_url=url)
    readme = write_readme(layout, tree_dir, reconciliation, dictionary_url=url)
    checksums = write_checksums(tree_dir, layout.manifest, (datapackage, readme))
    return datapackage, readme, checksums
