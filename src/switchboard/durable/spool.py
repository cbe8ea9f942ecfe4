"""A spool: items kept as files in one folder on local disk until they are dealt with.

Every write is atomic and fsync'd (a crash leaves the old file or the new, never a
torn one); ``paths`` lists the spooled files oldest name first; ``read`` parses one,
and a file that cannot be parsed is set aside (renamed ``.bad``, logged
``<prefix>.bad_spool_file``), never deleted: a human may want it. ``set_aside``
also keeps a file whose content the store refuses (the call log's ``.rejected``).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
SUFFIX = ".json"
BAD = ".bad"  # could not be read
REJECTED = ".rejected"  # read, but the store refuses its content


def write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary name, fsync, rename: a crash leaves the old file or the new."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


class Spool:
    """One spool folder. Blocking file work: call it in a thread from the loop.

    ``prefix`` starts the log events (``calllog`` -> ``calllog.bad_spool_file``);
    ``unreadable`` are the errors of ``parse`` that make a file bad. ``strict``: a
    bad file that cannot be renamed raises (the callback spools), else it is left
    where it is (logged again next time)."""

    def __init__(
        self,
        directory: Path,
        log: logging.Logger,
        prefix: str,
        *,
        unreadable: tuple[type[Exception], ...] = (OSError, ValueError, TypeError),
        strict: bool = False,
    ) -> None:
        self.directory = directory
        self.log = log
        self.prefix = prefix
        self._unreadable = unreadable
        self._strict = strict

    def path(self, name: str) -> Path:
        return self.directory / f"{name}{SUFFIX}"

    def write(self, name: str, data: bytes) -> Path:
        """On disk (fsync'd) when this returns."""
        path = self.path(name)
        write_atomically(path, data)
        return path

    def paths(self) -> list[Path]:
        """The spooled files, in name order (no folder yet: none)."""
        return sorted(self.directory.glob(f"*{SUFFIX}")) if self.directory.is_dir() else []

    def read(self, path: Path, parse: Callable[[bytes], T]) -> T | None:
        """The item in ``path``; None if it cannot be read (then it is set aside)."""
        try:
            return parse(path.read_bytes())
        except self._unreadable as exc:
            self.set_aside(path, BAD, "bad_spool_file", exc)
            return None

    def read_all(self, parse: Callable[[bytes], T]) -> list[T]:
        """Every readable item, in name order (the others set aside)."""
        found = (self.read(path, parse) for path in self.paths())
        return [item for item in found if item is not None]

    def remove(self, path: Path) -> None:
        path.unlink(missing_ok=True)

    def set_aside(self, path: Path, suffix: str, event: str, error: Exception) -> None:
        """Keep ``path`` for the operator as ``<stem><suffix>``, logged (error) as
        ``<prefix>.<event>``: it neither blocks the items after it nor comes back."""
        self.log.error(f"{self.prefix}.{event}", extra={"file": str(path), "error": str(error)})
        if self._strict:
            path.rename(path.with_suffix(suffix))
            return
        with contextlib.suppress(OSError):
            path.rename(path.with_suffix(suffix))
