"""Deleting a stored audio file (a voicemail's, a recording's) before its row goes.

Blocking file work: called in a thread. Only files under the configured folder are
deleted; the path comes from the row, and a row naming a file elsewhere (the folder
moved, or a row written by someone else) keeps the file and its row.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from pathlib import Path

log = logging.getLogger("switchboard.retention")


class FileFate(StrEnum):
    DELETED = "deleted"
    MISSING = "missing"  # already gone: the row may go
    KEPT = "kept"  # not deleted (outside the folder, or the system refused): the row stays


def remove_audio(file: str, directory: Path, *, dry_run: bool = False) -> FileFate:
    """Delete ``file`` if it lies under ``directory``; what became of it."""
    if not file:
        return FileFate.MISSING  # (a row with no file: nothing to delete)
    path = Path(file)
    try:
        inside = path.resolve().is_relative_to(directory.resolve())
    except (OSError, RuntimeError) as exc:  # a symlink loop, a folder we may not read
        log.warning("retention.file_kept", extra={"file": file, "error": str(exc)})
        return FileFate.KEPT
    if not inside:
        log.warning("retention.file_kept", extra={"file": file, "error": f"not under {directory}"})
        return FileFate.KEPT
    if dry_run:
        return FileFate.DELETED if path.is_file() else FileFate.MISSING
    try:
        path.unlink()
    except FileNotFoundError:
        return FileFate.MISSING
    except OSError as exc:
        log.warning("retention.file_kept", extra={"file": file, "error": str(exc)})
        return FileFate.KEPT
    return FileFate.DELETED
