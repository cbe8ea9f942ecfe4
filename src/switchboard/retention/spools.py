"""What the daemon still holds on local disk for a number: not in PostgreSQL yet.

A call that ended while PostgreSQL was away, a voicemail not yet emailed, a
recording not yet stored, a callback request not yet written: each is a JSON file
in its store's spool until the daemon has moved it on. Erasure leaves them alone
(the daemon is working on them) and says how many there are, so the operator can
erase again once they have reached PostgreSQL. Reading only: nothing is renamed
or deleted here.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from switchboard.calllog import CALLBACK_VERSION
from switchboard.config import Config


@dataclass(frozen=True, slots=True)
class Spools:
    """The spool folders of the stores the daemon builds (app.py)."""

    calls: Path
    callbacks: Path
    web_callbacks: Path
    voicemails: Path | None
    recordings: Path | None

    @classmethod
    def of(cls, config: Config) -> Spools:
        state = config.daemon.state_directory
        return cls(
            calls=state / "calls",
            callbacks=state / "callbacks",
            web_callbacks=state / "web-callbacks",
            voicemails=config.voicemail.directory / "spool" if config.voicemail else None,
            recordings=config.recording.directory / "spool" if config.recording else None,
        )


@dataclass(frozen=True, slots=True)
class Spooled:
    """One number's entries in the spools, and every job the audio keepers still hold."""

    calls: int = 0
    voicemails: int = 0
    recordings: int = 0
    callbacks: int = 0
    web_callbacks: int = 0
    busy_voicemails: frozenset[str] = frozenset()  # every voicemail the keeper still holds
    busy_recordings: frozenset[str] = frozenset()  # every recording the keeper still holds
    recorded_calls: frozenset[str] = frozenset()  # the calls of those recordings

    @property
    def total(self) -> int:
        return self.calls + self.voicemails + self.recordings + self.callbacks + self.web_callbacks

    def counts(self) -> dict[str, int]:
        return {
            "calls": self.calls,
            "voicemails": self.voicemails,
            "recordings": self.recordings,
            "callbacks": self.callbacks,
            "web_callbacks": self.web_callbacks,
        }


def read_spool(directory: Path | None) -> list[Mapping[str, Any]]:
    """Every readable JSON object in ``directory`` (blocking; others are skipped: their
    store sets them aside itself)."""
    if directory is None or not directory.is_dir():
        return []
    found: list[Mapping[str, Any]] = []
    for path in sorted(directory.glob("*.json")):
        try:
            raw = json.loads(path.read_bytes())
        except (OSError, ValueError):
            continue
        if isinstance(raw, dict):
            found.append(raw)
    return found


def is_callers_call(call: Mapping[str, Any], forms: Collection[str], e164: str) -> bool:
    """A spooled call record: from one of ``forms``, or a callback call to ``e164``."""
    if call.get("caller") in forms:
        return True
    if call.get("flow_version") != CALLBACK_VERSION:
        return False
    return e164 in _leg_targets(call.get("legs"))


def _leg_targets(legs: object) -> set[object]:
    """Targets of spooled legs: objects, or ``[target, result]`` pairs (before 008)."""
    if not isinstance(legs, list):
        return set()
    targets = set()
    for leg in legs:
        if isinstance(leg, dict):
            targets.add(leg.get("target"))
        elif isinstance(leg, list) and leg:
            targets.add(leg[0])
    return targets


def spooled_for(
    spools: Spools, forms: Collection[str], e164: str, call_ids: Iterable[str]
) -> Spooled:
    """What the spools hold for the number (blocking). ``call_ids``: its calls already in
    PostgreSQL (a recording of one may still be spooled)."""
    calls = [c for c in read_spool(spools.calls) if is_callers_call(c, forms, e164)]
    theirs = set(call_ids) | {c.get("id") for c in calls}
    voicemails = read_spool(spools.voicemails)
    recordings = read_spool(spools.recordings)
    return Spooled(
        calls=len(calls),
        voicemails=sum(v.get("caller") in forms or v.get("call_id") in theirs for v in voicemails),
        recordings=sum(r.get("call_id") in theirs for r in recordings),
        callbacks=sum(c.get("number") == e164 for c in read_spool(spools.callbacks)),
        web_callbacks=sum(c.get("number") == e164 for c in read_spool(spools.web_callbacks)),
        busy_voicemails=frozenset(str(v.get("id")) for v in voicemails),
        busy_recordings=frozenset(str(r.get("id")) for r in recordings),
        recorded_calls=frozenset(str(r.get("call_id")) for r in recordings),
    )
