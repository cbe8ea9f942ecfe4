"""The flows the daemon serves now, and their safe live reload.

A new version is compiled and checked first; only a valid one replaces the
current ``FlowSet`` (one reference swap). Calls hold the flow they started with,
so calls in progress finish on their version and new calls get the new one.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from .compiler import FlowError, compile_files
from .model import FlowSet
from .prompts import PromptCatalog

log = logging.getLogger("switchboard.flows")


class FlowRegistry:
    def __init__(self, paths: list[Path], prompts_dir: Path) -> None:
        self.paths = paths
        self.prompts_dir = prompts_dir
        self.current = self._compile()  # FlowError here: the daemon must not start
        self._signature = self._stat()
        log.info("flows.loaded", extra={"version": self.current.version, "files": self._names()})

    def _names(self) -> list[str]:
        return [str(p) for p in self.paths]

    def _compile(self) -> FlowSet:
        flows, warnings = compile_files(self.paths, PromptCatalog.scan(self.prompts_dir))
        for warning in warnings:
            log.warning("flows.warning", extra={"problem": str(warning)})
        return flows

    def _stat(self) -> tuple[tuple[int, int], ...]:
        signature = []
        for path in self.paths:
            try:
                st = path.stat()
                signature.append((st.st_mtime_ns, st.st_size))
            except OSError:
                signature.append((-1, -1))
        return tuple(signature)

    def reload(self) -> bool:
        """Compile the files again; swap in the result if valid and different."""
        self._signature = self._stat()
        try:
            flows = self._compile()
        except FlowError as exc:
            problems = [str(p) for p in exc.problems]
            kept = self.current.version
            log.error("flows.reload_rejected", extra={"kept_version": kept, "problems": problems})
            return False
        if flows.version == self.current.version:
            return False
        old, self.current = self.current, flows
        log.info("flows.reloaded", extra={"from": old.version, "to": flows.version})
        return True

    async def watch(self, interval: float) -> None:
        """Reload when a file's size or modification time changes."""
        while True:
            await asyncio.sleep(interval)
            if self._stat() != self._signature:
                self.reload()
