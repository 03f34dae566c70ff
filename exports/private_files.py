"""Files only their owner may read: tokens, keys, a source's resume state."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def replace_private_file(path: Path, text: str) -> None:
    """Replace ``path`` atomically with ``text``, readable by the owner only: a reader sees
    the old file or the new one, never half of either."""
    descriptor, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:  # mkstemp: mode 0600
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
