"""Typed ARI events, parsed once at the edge.

Only the fields the router uses are kept. Shapes follow Asterisk 22's
``rest-api/events.json``. The caller ID (number and name: whatever the calling
side sent) is made safe for one line here (``switchboard.text.one_line``), so
no control character, line break or bidi override of it reaches a mail header,
a log, a page or PostgreSQL. A message we cannot parse, or an event type we do not
use, becomes :class:`UnknownEvent` -- it is logged and ignored, never a crash.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from switchboard.text import one_line


class MalformedEvent(ValueError):
    """The websocket delivered something that is not an ARI event."""


@dataclass(frozen=True, slots=True)
class Channel:
    id: str
    name: str = ""
    state: str = ""
    caller_number: str = ""
    caller_name: str = ""
    exten: str = ""
    context: str = ""
    app_name: str = ""
    app_data: str = ""
    language: str = ""
    created: str = ""  # creationtime, as Asterisk writes it: 2026-11-25T03:32:52.810+0000


@dataclass(frozen=True, slots=True)
class Playback:
    id: str
    media_uri: str = ""
    target_uri: str = ""
    state: str = ""


@dataclass(frozen=True, slots=True)
class Recording:
    name: str
    format: str = ""
    state: str = ""
    target_uri: str = ""
    duration: int | None = None
    cause: str = ""


@dataclass(frozen=True, slots=True)
class Bridge:
    id: str
    bridge_type: str = ""
    channels: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class StasisStart:
    channel: Channel
    args: tuple[str, ...] = ()
    at: datetime | None = None  # Asterisk's timestamp of the event: when the call arrived


@dataclass(frozen=True, slots=True)
class StasisEnd:
    channel: Channel


@dataclass(frozen=True, slots=True)
class ChannelStateChange:
    channel: Channel


@dataclass(frozen=True, slots=True)
class ChannelDtmfReceived:
    channel: Channel
    digit: str
    duration_ms: int = 0


@dataclass(frozen=True, slots=True)
class ChannelHangupRequest:
    channel: Channel
    cause: int = 0
    soft: bool = False


@dataclass(frozen=True, slots=True)
class ChannelDestroyed:
    channel: Channel
    cause: int = 0
    cause_txt: str = ""


@dataclass(frozen=True, slots=True)
class PlaybackStarted:
    playback: Playback


@dataclass(frozen=True, slots=True)
class PlaybackFinished:
    playback: Playback


@dataclass(frozen=True, slots=True)
class RecordingFinished:
    recording: Recording


@dataclass(frozen=True, slots=True)
class RecordingFailed:
    recording: Recording


@dataclass(frozen=True, slots=True)
class ChannelEnteredBridge:
    bridge: Bridge
    channel: Channel | None


@dataclass(frozen=True, slots=True)
class ChannelLeftBridge:
    bridge: Bridge
    channel: Channel


@dataclass(frozen=True, slots=True)
class Dial:
    peer: Channel
    dialstatus: str
    caller: Channel | None = None
    dialstring: str = ""


@dataclass(frozen=True, slots=True)
class Endpoint:
    technology: str
    resource: str
    state: str  # "online", "offline", "unknown"
    channel_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DeviceState:
    name: str
    state: str  # "NOT_INUSE", "INUSE", "BUSY", "UNAVAILABLE", "RINGING", ...


@dataclass(frozen=True, slots=True)
class EndpointStateChange:
    endpoint: Endpoint


@dataclass(frozen=True, slots=True)
class DeviceStateChanged:
    device_state: DeviceState


@dataclass(frozen=True, slots=True)
class ApplicationReplaced:
    application: str


@dataclass(frozen=True, slots=True)
class UnknownEvent:
    """An event type we do not use (or could not read); kept for the logs."""

    type: str
    raw: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


AriEvent = (
    StasisStart
    | StasisEnd
    | ChannelStateChange
    | ChannelDtmfReceived
    | ChannelHangupRequest
    | ChannelDestroyed
    | PlaybackStarted
    | PlaybackFinished
    | RecordingFinished
    | RecordingFailed
    | ChannelEnteredBridge
    | ChannelLeftBridge
    | Dial
    | EndpointStateChange
    | DeviceStateChanged
    | ApplicationReplaced
    | UnknownEvent
)


def _str(obj: dict[str, Any], key: str) -> str:
    value = obj.get(key, "")
    return value if isinstance(value, str) else str(value)


def _int(obj: dict[str, Any], key: str) -> int:
    value = obj.get(key, 0)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _obj(obj: dict[str, Any], key: str) -> dict[str, Any]:
    value = obj.get(key)
    if not isinstance(value, dict):
        raise MalformedEvent(f"field {key!r} missing or not an object")
    return value


def parse_channel(raw: dict[str, Any]) -> Channel:
    if not isinstance(raw.get("id"), str) or not raw["id"]:
        raise MalformedEvent("channel without an id")
    caller: dict[str, Any] = raw["caller"] if isinstance(raw.get("caller"), dict) else {}
    dialplan: dict[str, Any] = raw["dialplan"] if isinstance(raw.get("dialplan"), dict) else {}
    return Channel(
        id=raw["id"],
        name=_str(raw, "name"),
        state=_str(raw, "state"),
        caller_number=one_line(_str(caller, "number")),  # the caller's to set: made safe
        caller_name=one_line(_str(caller, "name")),
        exten=_str(dialplan, "exten"),
        context=_str(dialplan, "context"),
        app_name=_str(dialplan, "app_name"),
        app_data=_str(dialplan, "app_data"),
        language=_str(raw, "language"),
        created=_str(raw, "creationtime"),
    )


def parse_bridge(raw: dict[str, Any]) -> Bridge:
    if not isinstance(raw.get("id"), str):
        raise MalformedEvent("bridge without an id")
    channels = raw.get("channels")
    ids = tuple(c for c in channels if isinstance(c, str)) if isinstance(channels, list) else ()
    return Bridge(id=raw["id"], bridge_type=_str(raw, "bridge_type"), channels=ids)


def _playback(raw: dict[str, Any]) -> Playback:
    return parse_playback(_obj(raw, "playback"))


def parse_playback(pb: dict[str, Any]) -> Playback:
    if not isinstance(pb.get("id"), str):
        raise MalformedEvent("playback without an id")
    return Playback(
        id=_str(pb, "id"),
        media_uri=_str(pb, "media_uri"),
        target_uri=_str(pb, "target_uri"),
        state=_str(pb, "state"),
    )


def _recording(raw: dict[str, Any]) -> Recording:
    rec = _obj(raw, "recording")
    duration = rec.get("duration")
    return Recording(
        name=_str(rec, "name"),
        format=_str(rec, "format"),
        state=_str(rec, "state"),
        target_uri=_str(rec, "target_uri"),
        duration=duration if isinstance(duration, int) else None,
        cause=_str(rec, "cause"),
    )


def _timestamp(raw: dict[str, Any]) -> datetime | None:
    """ARI's ``2026-11-25T10:00:00.000+0300``; None if absent or unreadable."""
    text = raw.get("timestamp")
    if not isinstance(text, str):
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")
    except ValueError:
        return None


def _ch(raw: dict[str, Any]) -> Channel:
    return parse_channel(_obj(raw, "channel"))


def _optional_channel(raw: dict[str, Any], key: str) -> Channel | None:
    return parse_channel(raw[key]) if isinstance(raw.get(key), dict) else None


def _args(raw: dict[str, Any]) -> tuple[str, ...]:
    args = raw.get("args", [])
    return tuple(str(a) for a in args) if isinstance(args, list) else ()


def parse_endpoint(ep: dict[str, Any]) -> Endpoint:
    ids = ep.get("channel_ids")
    return Endpoint(
        technology=_str(ep, "technology"),
        resource=_str(ep, "resource"),
        state=_str(ep, "state"),
        channel_ids=tuple(i for i in ids if isinstance(i, str)) if isinstance(ids, list) else (),
    )


def parse_device_state(ds: dict[str, Any]) -> DeviceState:
    return DeviceState(name=_str(ds, "name"), state=_str(ds, "state"))


_PARSERS: dict[str, Any] = {
    "StasisStart": lambda r: StasisStart(channel=_ch(r), args=_args(r), at=_timestamp(r)),
    "StasisEnd": lambda r: StasisEnd(channel=_ch(r)),
    "ChannelStateChange": lambda r: ChannelStateChange(channel=_ch(r)),
    "ChannelDtmfReceived": lambda r: ChannelDtmfReceived(
        channel=_ch(r), digit=_str(r, "digit"), duration_ms=_int(r, "duration_ms")
    ),
    "ChannelHangupRequest": lambda r: ChannelHangupRequest(
        channel=_ch(r), cause=_int(r, "cause"), soft=bool(r.get("soft", False))
    ),
    "ChannelDestroyed": lambda r: ChannelDestroyed(
        channel=_ch(r), cause=_int(r, "cause"), cause_txt=_str(r, "cause_txt")
    ),
    "PlaybackStarted": lambda r: PlaybackStarted(playback=_playback(r)),
    "PlaybackFinished": lambda r: PlaybackFinished(playback=_playback(r)),
    "RecordingFinished": lambda r: RecordingFinished(recording=_recording(r)),
    "RecordingFailed": lambda r: RecordingFailed(recording=_recording(r)),
    "ChannelEnteredBridge": lambda r: ChannelEnteredBridge(
        bridge=parse_bridge(_obj(r, "bridge")), channel=_optional_channel(r, "channel")
    ),
    "ChannelLeftBridge": lambda r: ChannelLeftBridge(
        bridge=parse_bridge(_obj(r, "bridge")), channel=_ch(r)
    ),
    "Dial": lambda r: Dial(
        peer=parse_channel(_obj(r, "peer")),
        dialstatus=_str(r, "dialstatus"),
        caller=_optional_channel(r, "caller"),
        dialstring=_str(r, "dialstring"),
    ),
    "EndpointStateChange": lambda r: EndpointStateChange(parse_endpoint(_obj(r, "endpoint"))),
    "DeviceStateChanged": lambda r: DeviceStateChanged(parse_device_state(_obj(r, "device_state"))),
    "ApplicationReplaced": lambda r: ApplicationReplaced(application=_str(r, "application")),
}


# The event types parsed above: every other one becomes UnknownEvent, which nothing
# uses, so the event stream asks Asterisk for these only.
EVENT_TYPES: tuple[str, ...] = tuple(_PARSERS)


def parse_event(raw: dict[str, Any]) -> AriEvent:
    """Turn one decoded ARI message into a typed event.

    Raises :class:`MalformedEvent` when a *known* event type lacks the fields
    it must have; unknown types become :class:`UnknownEvent`.
    """
    kind = raw.get("type")
    if not isinstance(kind, str):
        raise MalformedEvent("message without a type")
    parser = _PARSERS.get(kind)
    if parser is None:
        return UnknownEvent(type=kind, raw=raw)
    try:
        event: AriEvent = parser(raw)
    except (TypeError, AttributeError, KeyError) as exc:
        raise MalformedEvent(f"{kind}: {exc}") from exc
    return event


def decode_message(text: str) -> AriEvent:
    """Decode websocket text into an event; bad JSON is a :class:`MalformedEvent`."""
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise MalformedEvent(f"not JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise MalformedEvent("message is not a JSON object")
    return parse_event(raw)


def routing_ids(event: AriEvent) -> tuple[str, ...]:
    """The channel and bridge ids an event concerns, to route it to its call."""
    match event:
        case (
            StasisStart(channel=ch)
            | StasisEnd(channel=ch)
            | ChannelStateChange(channel=ch)
            | ChannelDtmfReceived(channel=ch)
            | ChannelHangupRequest(channel=ch)
            | ChannelDestroyed(channel=ch)
            | ChannelLeftBridge(channel=ch)
        ):
            return (ch.id,)
        case ChannelEnteredBridge(channel=ch, bridge=bridge):
            return ((ch.id,) if ch is not None else ()) + (bridge.id,)
        case Dial(peer=peer, caller=caller):
            return (peer.id,) + ((caller.id,) if caller is not None else ())
        case PlaybackStarted(playback=pb) | PlaybackFinished(playback=pb):
            return _target_id(pb.target_uri)
        case RecordingFinished(recording=rec) | RecordingFailed(recording=rec):
            return _target_id(rec.target_uri)
        case _:
            return ()


def _target_id(uri: str) -> tuple[str, ...]:
    """``channel:ID`` or ``bridge:ID`` (a playback's or recording's target) -> ``(ID,)``."""
    kind, _, ident = uri.partition(":")
    return (ident,) if kind in ("channel", "bridge") and ident else ()
