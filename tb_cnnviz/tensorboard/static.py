"""The tab's own files (frontend/, kinds/ included), served by name with no way out of that folder."""

from __future__ import annotations

import mimetypes
import re
from pathlib import Path

from tensorboard import errors

_NAME_PART = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*")  # one path part: no "..", no hidden files
_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}


def frontend_dir() -> Path:
    """The tab's files: installed beside the package's modules, or the checkout's frontend/ (editable install)."""
    package = Path(__file__).resolve().parent.parent
    installed, checkout = package / "frontend", package.parent / "frontend"
    return installed if installed.is_dir() else checkout


def read_static(folder: Path, name: str) -> tuple[bytes, str]:
    """(content, content type) of frontend file `name`; NotFoundError for anything but a plain file inside `folder`."""
    parts = name.split("/")  # no absolute paths or backslashes either: neither matches _NAME_PART
    if not all(_NAME_PART.fullmatch(part) for part in parts):
        raise errors.NotFoundError(f"no frontend file {name[:200]!r}")
    file = folder.joinpath(*parts)
    try:
        content = file.read_bytes()
    except OSError:  # missing, a folder, or a name the file system refuses (ENAMETOOLONG)
        raise errors.NotFoundError(f"no frontend file {name[:200]!r}") from None
    content_type = _TYPES.get(file.suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"
    return content, content_type
