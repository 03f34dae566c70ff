"""How the archive's inner zip holds the tree's files: which are stored without trying deflate,
and the order entries go in. Shared by the archive and by the batches that encode its members
ahead of it (``exports.packaging.members``)."""

from __future__ import annotations

from typing import Final

#: extensions (lower case, no dot) of formats that are compressed already: stored without
#: trying deflate. PDFs are not here: their text and fonts often deflate well (scans do not,
#: and the writer then stores them).
STORED_EXTENSIONS: Final = frozenset(
    {
        *("docx", "xlsx", "pptx"),  # documents
        *("jpg", "jpeg", "png", "gif", "tif", "tiff", "webp", "heic"),  # images
        *("zip", "gz", "7z"),  # archives
        *("mp3", "m4a", "mp4", "mov"),  # audio and video
    }
)


def is_stored(arcname: str) -> bool:
    """Whether the file is in a format compressed already: stored without trying deflate."""
    _, dot, extension = arcname.rpartition("/")[2].rpartition(".")
    return bool(dot) and extension.lower() in STORED_EXTENSIONS


def archive_order(arcname: str) -> tuple[str, ...]:
    """The key that sorts entries as the archive walks the tree: directory by directory, names
    in code point order (a folder's files come before a name that extends the folder's)."""
    return tuple(arcname.split("/"))
