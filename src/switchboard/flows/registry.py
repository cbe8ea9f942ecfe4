"""The flows the daemon serves now, and their safe live reload.

A new version is compiled and checked first (in a worker thread, so calls are not
held up); only a valid one replaces the current ``FlowSet`` (one reference swap
on the event loop). Calls hold the flow they started with, so calls in progress
finish on their version and new calls get the new one.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

from switchboard.durable import periodic

from .compiler import compile_files
from .model import FlowSet
from .prompts import PromptCatalog
from .reading import FlowError

log = logging.getLogger("switchboard.flows")


@dataclass(frozen=True, slots=True)
class Reloaded:
    """What a reload asked for by hand (the API) did."""

    version: str  # the version served now
    previous: str
    problems: tuple[str, ...] = ()  # the checker's, when the files are invalid (old kept)
    failed: bool = False  # the checker itself failed (a bug: see the log); old kept


class FlowRegistry:
    def __init__(self, paths: list[Path], prompts_dir: Path) -> None:
        self.paths = paths
        self.prompts_dir = prompts_dir
        self._signature = self._fingerprint()  # before compiling: a later write is seen
        self.current = self._compile()  # FlowError here: the daemon must not start
        self._pending: asyncio.Task[bool] | None = None
        log.info("flows.loaded", extra={"version": self.current.version, "files": self._names()})

    def _names(self) -> list[str]:
        return [str(p) for p in self.paths]

    def _compile(self) -> FlowSet:
        flows, warnings = compile_files(self.paths, PromptCatalog.scan(self.prompts_dir))
        for warning in warnings:
            log.warning("flows.warning", extra={"problem": str(warning)})
        return flows

    def _fingerprint(self) -> str:
        """What the files hold now (content, not timestamps: same-size rewrites count)."""
        digest = hashlib.sha256()
        for path in self.paths:
            try:
                digest.update(path.read_bytes())
            except OSError as exc:
                digest.update(f"unreadable:{exc.errno}".encode())
            digest.update(b"\0")
        return digest.hexdigest()

    def _checked(self) -> FlowSet | None:
        """Compile the files again; None (and the problems logged) if they are not valid."""
        return self._attempt()[0]

    def _attempt(self) -> tuple[FlowSet | None, tuple[str, ...]]:
        """``_checked`` with the checker's problems (none and no flows: a checker bug)."""
        self._signature = self._fingerprint()
        try:
            return self._compile(), ()
        except FlowError as exc:
            problems = [str(p) for p in exc.problems]
            kept = self.current.version
            log.error("flows.reload_rejected", extra={"kept_version": kept, "problems": problems})
            return None, tuple(problems)
        except Exception:  # a checker bug must not stop the daemon or the watcher
            log.exception("flows.reload_failed", extra={"kept_version": self.current.version})
        return None, ()

    def _swap(self, flows: FlowSet | None) -> bool:
        if flows is None or flows.version == self.current.version:
            return False
        old, self.current = self.current, flows
        log.info("flows.reloaded", extra={"from": old.version, "to": flows.version})
        return True

    def reload(self) -> bool:
        """Compile and swap in this thread (start-up, tests)."""
        return self._swap(self._checked())

    async def reload_async(self) -> bool:
        """Compile in a worker thread, swap on the loop: calls are not held up."""
        return self._swap(await asyncio.to_thread(self._checked))

    async def reload_now(self) -> Reloaded:
        """``reload_async`` that says what happened (for the API)."""
        previous = self.current.version
        flows, problems = await asyncio.to_thread(self._attempt)
        self._swap(flows)
        failed = flows is None and not problems
        return Reloaded(self.current.version, previous, problems, failed)

    def request_reload(self) -> None:
        """For SIGHUP: start a reload unless one is under way."""
        if self._pending is None or self._pending.done():
            self._pending = asyncio.get_running_loop().create_task(self.reload_async())

    async def watch(self, interval: float) -> None:
        """Reload when a file's content changes (looked at every ``interval`` seconds)."""
        await periodic("flows.watch", interval, self._look, logger=log)

    async def _look(self) -> None:
        changed = await asyncio.to_thread(self._fingerprint)
        if changed != self._signature:
            await self.reload_async()
