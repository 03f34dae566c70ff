"""``Read me first.html``: the archive explains itself to whoever opens it, offline.

What is inside, how to open it on Windows and macOS, what was exported and what was not (from
the reconciliation), how to check the files, and the data dictionary. Plain HTML with its style
inline and no scripts, rendered by a Django template: autoescaped, because the practice's name
and the EHR's reasons are text from outside. It names no patient.

The template engine is one of its own over the project's templates (no app registry, no
context processors): packaging runs in workers and in ``manage.py`` children that never set
Django's apps up.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from exports.data_dictionary import dictionary_context
from requests_app.catalog import NEVER_EXPORTED

from . import layout as names
from .checksums import FILE_NAME as CHECKSUMS
from .datapackage import FILE_NAME as DATAPACKAGE
from .layout import ExportLayout
from .reconciliation import Reconciliation
from .tree import replacing

FILE_NAME = "Read me first.html"
TEMPLATE = "archive/read_me_first.html"


def render_readme(
    layout: ExportLayout, reconciliation: Reconciliation, *, dictionary_url: str
) -> str:
    # Imported here: batch workers import this module (through ``exports.packaging``) but
    # never render the readme, and Django's template engine would weigh on every one of them.
    from django.conf import settings
    from django.template import Context, Engine

    engine = Engine(dirs=[settings.BASE_DIR / "templates"], autoescape=True)
    return engine.get_template(TEMPLATE).render(
        Context(
            {
                **dictionary_context(),
                "practice_name": layout.practice_name,
                "export_date": layout.export_date.isoformat(),
                "root": str(layout.root),
                "dictionary_url": dictionary_url,
                "clinical": names.CLINICAL_DATA_EXPORT,
                "records": names.PATIENT_RECORDS,
                "ccda": names.CCDA_FILES,
                "images": names.PATIENT_IMAGES_EXPORT,
                "workbook": names.WORKBOOK,
                "image_index": names.IMAGE_INDEX,
                "manifest_file": names.MANIFEST,
                "reconciliation_file": names.RECONCILIATION,
                "checksums_file": CHECKSUMS,
                "datapackage_file": DATAPACKAGE,
                "is_balanced": reconciliation.is_balanced,
                "lines": reconciliation.lines,
                "notes": reconciliation.notes,
                "never_exported": NEVER_EXPORTED,
            },
            use_l10n=False,  # numbers as they are: localizing would load translations
        )
    )


def write_readme(
    layout: ExportLayout, tree_dir: Path, reconciliation: Reconciliation, *, dictionary_url: str
) -> PurePosixPath:
    """Write the readme at the deliverable's root; returns its path from ``tree_dir``."""
    out = layout.root / FILE_NAME
    html = render_readme(layout, reconciliation, dictionary_url=dictionary_url)
    with replacing(tree_dir / out) as temp:
        temp.write_text(html, encoding="utf-8")
    return out
