"""What Asterisk did for each caller, seen by an ARI application of its own.

`Observer` connects as ``faultwatch`` with ``subscribeAll=true`` (deploy/lab/NOTES.md,
finding a: it then gets the playback, bridge, recording, dialplan and hang-up events
of every channel, the daemon's too) and keeps, per caller channel (``PJSIP/caller-*``),
when it entered Stasis(), every time Asterisk did something for it (a playback, a
recording, a bridge, a dialplan step, Dial), what it was hearing (prompts,
recordings, ringback while the daemon rings a phone for it) and when it was
talking to someone (a bridge with two channels, or the dialplan's Dial answered).
Times are time.time() when the event arrived.
It reconnects by itself (Asterisk restarts are one of the faults).

`Seen.silence_after(at)` is the campaign's silence measure: the seconds from `at`
(or the end of the prompt or recording the caller was hearing then) to the next
thing Asterisk did for the call; nothing while it talks. Music on hold has no ARI
event, so a caller waiting in a queue shows a gap while hearing music.

`kind_of` maps a caller channel to its kind (faults.py gives each kind its own
caller ID). `ThreadedObserver` runs it on a thread for blocking tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp

from switchboard.ari.client import basic_auth_header

EVENTS_URL = "ws://127.0.0.1:8088/ari/events"


def logged_at(line: dict[str, Any]) -> float:
    """A daemon log line's time (its ``ts`` is UTC) as a time.time() value."""
    return datetime.strptime(line["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()


@dataclass
class Seen:
    """One caller channel as the observer saw it (times: time.time() on arrival)."""

    id: str
    kind: str
    created: float
    stasis: float | None = None
    refused: bool = False  # Stasis() failed: no daemon connected
    handed_back: bool = False
    handed_back_at: float | None = None  # when the dialplan took it (not after a refusal)
    ended: float | None = None
    service: list[float] = field(default_factory=list)  # things Asterisk did for it
    hearing: list[list[float | None]] = field(default_factory=list)  # prompts, recordings
    talking: list[list[float | None]] = field(default_factory=list)  # in a bridge with someone
    recordings: list[int] = field(default_factory=list)  # durations of finished recordings
    keys: list[tuple[float, str]] = field(default_factory=list)
    callback_confirmed: bool = False

    def alive_at(self, at: float) -> bool:
        return self.stasis is not None and self.stasis < at and (self.ended or 1e12) > at

    def talking_at(self, at: float) -> list[float | None] | None:
        for span in self.talking:
            if span[0] is not None and span[0] <= at and (span[1] is None or span[1] > at):
                return span
        return None

    def silence_after(self, at: float, until: float) -> tuple[float, bool]:
        """(seconds without service after `at`, True if it ended that way)."""
        start = at
        span = self.talking_at(at)
        if span is not None:
            if span[1] is None or (self.ended is not None and span[1] >= self.ended - 0.5):
                return 0.0, False  # still talking when the call ended
            start = span[1]
        for begin, end in self.hearing:
            if begin is not None and begin <= start and (end is None or end > start):
                start = end if end is not None else (self.ended or until)
        last = self.ended or until
        following = [t for t in self.service if t > start]
        if not following or following[0] > last:
            return max(0.0, last - start), True
        return following[0] - start, False


class Observer:
    """The `faultwatch` ARI application: every caller channel's story. Reconnects
    (Asterisk restarts are one of the faults)."""

    def __init__(self, kind_of: Callable[[str], str] = lambda number: "other") -> None:
        self.kind_of = kind_of  # a caller ID -> the kind of caller
        self.calls: dict[str, Seen] = {}
        self.bridges: dict[str, set[str]] = {}
        self.connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Observer:
        self._task = asyncio.create_task(self._run())
        async with asyncio.timeout(10):
            await self.connected.wait()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        headers = {"Authorization": basic_auth_header("switchboard", "switchboard")}
        params = {"app": "faultwatch", "subscribeAll": "true"}
        async with aiohttp.ClientSession() as session:
            while True:
                try:
                    async with session.ws_connect(EVENTS_URL, params=params, headers=headers) as ws:
                        self.connected.set()
                        async for msg in ws:
                            if msg.type is aiohttp.WSMsgType.TEXT:
                                self.handle(msg.json(), time.time())
                except (aiohttp.ClientError, OSError):
                    pass
                self.connected.clear()
                await asyncio.sleep(0.2)

    def _call(self, channel: dict[str, Any] | None, at: float) -> Seen | None:
        if not channel or not str(channel.get("name", "")).startswith("PJSIP/caller-"):
            return None
        seen = self.calls.get(channel["id"])
        if seen is None:
            number = channel.get("caller", {}).get("number", "")
            seen = self.calls[channel["id"]] = Seen(channel["id"], self.kind_of(number), at)
        return seen

    def _target(self, thing: dict[str, Any], at: float) -> Seen | None:
        uri = str(thing.get("target_uri", ""))
        if uri.startswith("channel:"):
            return self.calls.get(uri.removeprefix("channel:"))
        return None

    def handle(self, event: dict[str, Any], at: float) -> None:
        kind = event.get("type", "")
        handler = getattr(self, f"_on_{kind}", None)
        if handler is not None:
            handler(event, at)

    def _on_ChannelCreated(self, event: dict[str, Any], at: float) -> None:
        self._call(event.get("channel"), at)

    def _on_ChannelDialplan(self, event: dict[str, Any], at: float) -> None:
        seen = self._call(event.get("channel"), at)
        if seen is None:
            return
        app, data = event.get("dialplan_app", ""), str(event.get("dialplan_app_data", ""))
        if app == "Stasis" and data.startswith("switchboard,inbound"):
            seen.stasis = at
        elif seen.stasis is not None:
            seen.service.append(at)  # a dialplan step after Stasis(): handed to the dialplan

    def _on_ChannelVarset(self, event: dict[str, Any], at: float) -> None:
        seen = self._call(event.get("channel"), at)
        if seen is not None and event.get("variable") == "SWITCHBOARD_FALLBACK_REASON":
            seen.refused = event.get("value") == "daemon-unavailable"
            seen.handed_back = not seen.refused
            seen.handed_back_at = None if seen.refused else at
            seen.service.append(at)

    def _on_ChannelDtmfReceived(self, event: dict[str, Any], at: float) -> None:
        seen = self._call(event.get("channel"), at)
        if seen is not None:
            seen.keys.append((at, str(event.get("digit", ""))))

    def _on_Dial(self, event: dict[str, Any], at: float) -> None:
        seen = self._call(event.get("caller"), at)
        if seen is None:
            self._leg_dial(event, at)
            return
        seen.service.append(at)
        open_span = bool(seen.talking) and seen.talking[-1][1] is None
        if event.get("dialstatus") == "ANSWER" and not open_span:
            seen.talking.append([at, None])  # the dialplan's Dial(): no ARI bridge events

    def _leg_dial(self, event: dict[str, Any], at: float) -> None:
        """A phone the daemon rings for a call (its leg ``<call id>-legN``): the caller
        hears ringback (POST /channels/{id}/ring, no event of its own) until the leg's
        Dial has a final status."""
        peer = str(event.get("peer", {}).get("id", ""))
        seen = self.calls.get(peer.partition("-leg")[0]) if "-leg" in peer else None
        if seen is None:
            return
        status = str(event.get("dialstatus", ""))
        ringing = bool(seen.hearing) and seen.hearing[-1][1] is None
        if status in ("", "RINGING", "PROGRESS"):
            if not ringing:
                seen.service.append(at)
                seen.hearing.append([at, None])
        elif ringing:
            seen.hearing[-1][1] = at

    def _on_PlaybackStarted(self, event: dict[str, Any], at: float) -> None:
        playback = event.get("playback", {})
        seen = self._target(playback, at)
        if seen is not None:
            seen.service.append(at)
            seen.hearing.append([at, None])
            if "goodbye" in str(playback.get("media_uri", "")) and any(
                d == "5" for _, d in seen.keys
            ):
                seen.callback_confirmed = True

    def _on_PlaybackFinished(self, event: dict[str, Any], at: float) -> None:
        seen = self._target(event.get("playback", {}), at)
        if seen is not None and seen.hearing and seen.hearing[-1][1] is None:
            seen.hearing[-1][1] = at

    def _on_RecordingStarted(self, event: dict[str, Any], at: float) -> None:
        seen = self._target(event.get("recording", {}), at)
        if seen is not None:
            seen.service.append(at)
            seen.hearing.append([at, None])

    def _on_RecordingFinished(self, event: dict[str, Any], at: float) -> None:
        recording = event.get("recording", {})
        seen = self._target(recording, at)
        if seen is not None:
            seen.recordings.append(int(recording.get("duration", 0) or 0))
            if seen.hearing and seen.hearing[-1][1] is None:
                seen.hearing[-1][1] = at

    def _on_ChannelEnteredBridge(self, event: dict[str, Any], at: float) -> None:
        seen = self._call(event.get("channel"), at)
        if seen is not None:
            seen.service.append(at)
        self._bridge_changed(event.get("bridge", {}), at)

    def _on_ChannelLeftBridge(self, event: dict[str, Any], at: float) -> None:
        seen = self._call(event.get("channel"), at)
        if seen is not None and seen.talking and seen.talking[-1][1] is None:
            seen.talking[-1][1] = at
        self._bridge_changed(event.get("bridge", {}), at)

    def _bridge_changed(self, bridge: dict[str, Any], at: float) -> None:
        members = set(bridge.get("channels", []))
        self.bridges[bridge.get("id", "")] = members
        for member in members:
            seen = self.calls.get(member)
            if seen is None:
                continue
            open_span = bool(seen.talking) and seen.talking[-1][1] is None
            if len(members) >= 2 and not open_span:
                seen.talking.append([at, None])
            elif len(members) < 2 and open_span:
                seen.talking[-1][1] = at

    def _on_ChannelDestroyed(self, event: dict[str, Any], at: float) -> None:
        seen = self._call(event.get("channel"), at)
        if seen is not None:
            seen.ended = at
            for span in (*seen.talking, *seen.hearing):
                if span[1] is None:
                    span[1] = at


class ThreadedObserver:
    """The observer on a thread of its own, for blocking tier-3 tests."""

    def __init__(self, kind_of: Callable[[str], str] = lambda number: "other") -> None:
        self.observer = Observer(kind_of)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    @property
    def calls(self) -> dict[str, Seen]:
        return dict(self.observer.calls)

    def start(self) -> ThreadedObserver:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.observer.__aenter__(), self._loop).result(15)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.observer.__aexit__(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()
