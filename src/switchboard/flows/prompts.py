"""The prompts a flow may name: ``prompts/<lang>/<name>.txt`` sources."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class PromptCatalog:
    root: Path
    available: frozenset[tuple[str, str]]  # (language, name)

    @classmethod
    def scan(cls, root: str | Path) -> PromptCatalog:
        base = Path(root)
        found = frozenset(
            (path.parent.name, path.stem) for path in base.glob("*/*.txt") if path.is_file()
        )
        return cls(base, found)

    def has(self, language: str, name: str) -> bool:
        return (language, name) in self.available

    def source(self, language: str, name: str) -> Path:
        return self.root / language / f"{name}.txt"


def media_uri(name: str) -> str:
    """How Asterisk plays a prompt: built audio is installed under sounds/<lang>/switchboard."""
    return f"sound:switchboard/{name}"
