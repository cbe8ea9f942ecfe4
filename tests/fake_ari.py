"""An in-process fake of Asterisk's ARI: same JSON, same websocket, faults on demand.

It simulates just enough of Asterisk for the adapter tier and the benchmark:
channels and bridges exist, hang-up/continue/playback/originate produce the
events Asterisk 22 sends, and a test can inject faults (status codes, bodies,
dropped websockets) and raw messages. It is not used at the end-to-end tier.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import re
import time
import wave
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from aiohttp import WSMsgType, web

from switchboard.ari.client import basic_auth_header

USER, PASSWORD = "switchboard", "secret"


@dataclass
class Recorded:
    method: str
    path: str  # decoded, below /ari
    raw_path: str  # as sent, still percent-encoded
    query: dict[str, str]
    authorization: str
    at: float = field(default_factory=time.perf_counter)  # when the request arrived


@dataclass
class Fault:
    method: str
    pattern: re.Pattern[str]
    status: int
    body: str
    times: int = 1


# dialplan/extensions.conf: the [globals] and contexts the lab Asterisk loads.
LAB_GLOBALS = {
    "SWITCHBOARD_APP": "switchboard",
    "SWITCHBOARD_FALLBACK_GROUP": "PJSIP/agent100&PJSIP/agent101&PJSIP/agent102",
    "SWITCHBOARD_FALLBACK_RING_SECONDS": "20",
    "SWITCHBOARD_FALLBACK_MAILBOX": "100@switchboard",
}
LAB_CONTEXTS = (
    "switchboard-inbound",
    "switchboard-stasis",
    "switchboard-fallback",
    "switchboard-voicemail",
    "switchboard-agents",
)
DIALPLAN_EXISTS = re.compile(r"DIALPLAN_EXISTS\(([^,)]*)\)")


def lab_endpoints(offline: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The PJSIP endpoints of deploy/asterisk/pjsip.conf as Asterisk lists them."""
    names = ("caller", "agent100", "agent101", "agent102", "agent103", "100", "101", "102")
    return [
        {
            "technology": "PJSIP",
            "resource": name,
            "state": "offline" if name in offline else "online",
            "channel_ids": [],
        }
        for name in (*names, "carrier")
    ]


@dataclass
class FakeAri:
    app: str = "switchboard"
    answer_originates: bool = True  # an originated leg answers at once
    # Channels being hung up: listed by the next GET, then gone (no events sent).
    leaving: set[str] = field(default_factory=set)
    finish_playbacks: bool = True  # a playback finishes at once
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    in_stasis: set[str] = field(default_factory=set)  # channels our app controls
    playbacks: dict[str, dict[str, Any]] = field(default_factory=dict)  # still playing
    endpoints: list[dict[str, Any]] = field(default_factory=lambda: lab_endpoints())
    device_states: dict[str, str] = field(default_factory=dict)
    bridges: dict[str, dict[str, Any]] = field(default_factory=dict)
    live_recordings: dict[str, dict[str, Any]] = field(default_factory=dict)
    stored_recordings: dict[str, bytes] = field(default_factory=dict)  # name -> WAV
    requests: list[Recorded] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    sockets: list[web.WebSocketResponse] = field(default_factory=list)
    connections: int = 0
    # What `switchboard doctor` asks about: dialplan globals and contexts, whether
    # dialplan functions (func_dialplan.so) are loaded, channels made with
    # POST /channels/create (never dialled; channel id -> the app they are in).
    globals: dict[str, str] = field(default_factory=lambda: dict(LAB_GLOBALS))
    contexts: set[str] = field(default_factory=lambda: set(LAB_CONTEXTS))
    dialplan_functions: bool = True
    created: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._runner: web.AppRunner | None = None
        self._changed = asyncio.Condition()
        self._ids = itertools.count(1)
        self._background: set[asyncio.Task[None]] = set()
        self._socket_apps: dict[web.WebSocketResponse, tuple[str, ...]] = {}
        self.url = ""

    # -- lifecycle ----------------------------------------------------------------------
    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/ari/events", self._events)
        app.router.add_route("*", "/ari/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        for ws in list(self.sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # -- what tests use -----------------------------------------------------------------
    def fail(self, method: str, path_regex: str, status: int, body: str, times: int = 1) -> None:
        self.faults.append(Fault(method, re.compile(path_regex), status, body, times))

    def new_channel(
        self, channel_id: str = "", exten: str = "74951234567", caller: str = "+79161234567"
    ) -> str:
        """A caller's channel that has entered Stasis(switchboard,inbound,EXTEN)."""
        channel_id = channel_id or f"17000000{next(self._ids):02d}.1"
        self.channels[channel_id] = self.channel_json(channel_id, caller=caller, exten=exten)
        self.in_stasis.add(channel_id)
        return channel_id

    def new_leg(self, channel_id: str, call_id: str, *, answered: bool) -> None:
        """A leg we originated for ``call_id``, ringing or answered (in our app)."""
        chan = self.channel_json(channel_id, args=f"leg,{call_id}")
        self.channels[channel_id] = chan
        if answered:
            self.in_stasis.add(channel_id)
        else:
            chan["_app_data"] = chan["dialplan"]["app_data"]
            chan["dialplan"].update(app_name="AppDial2", app_data="(Outgoing Line)")

    def answer_leg(self, channel_id: str) -> dict[str, Any]:
        """An originated leg is answered: it enters our app (no event sent)."""
        chan = self.channels[channel_id]
        chan["state"] = "Up"
        chan["dialplan"].update(app_name="Stasis", app_data=chan.pop("_app_data"))
        self.in_stasis.add(channel_id)
        return chan

    def channel_json(
        self, channel_id: str, *, caller: str = "", exten: str = "", args: str = "inbound"
    ) -> dict[str, Any]:
        return {
            "id": channel_id,
            "name": f"PJSIP/caller-{channel_id}",
            "state": "Ring",
            "caller": {"name": "", "number": caller},
            "connected": {"name": "", "number": ""},
            "accountcode": "",
            "dialplan": {
                "context": "switchboard-inbound",
                "exten": exten,
                "priority": 2,
                "app_name": "Stasis",
                "app_data": f"{self.app},{args},{exten}",
            },
            "creationtime": "2026-11-25T10:00:00.000+0000",
            "language": "en",
        }

    async def stasis_start(self, channel_id: str, args: list[str] | None = None) -> None:
        chan = self.channels[channel_id]
        if channel_id not in self.in_stasis:
            chan = self.answer_leg(channel_id)
        exten = chan["dialplan"]["exten"]
        await self.push(
            {"type": "StasisStart", "args": args or ["inbound", exten], "channel": chan}
        )

    async def caller_hangs_up(self, channel_id: str) -> None:
        chan = self.channels.pop(channel_id)
        await self._gone(chan, cause=16)

    async def push(self, message: dict[str, Any]) -> None:
        message.setdefault("application", self.app)
        message.setdefault("timestamp", "2026-11-25T10:00:00.000+0000")
        await self.push_raw(json.dumps(message))

    async def push_raw(self, text: str) -> None:
        for ws in list(self.sockets):
            if not ws.closed:
                await ws.send_str(text)

    async def drop_websockets(self) -> None:
        for ws in list(self.sockets):
            await ws.close(code=1011, message=b"simulated drop")

    async def wait_connected(self, count: int = 1, within: float = 5.0) -> None:
        await self._wait(lambda: self.connections >= count and bool(self.live_sockets), within)

    @property
    def live_sockets(self) -> list[web.WebSocketResponse]:
        return [ws for ws in self.sockets if not ws.closed]

    @property
    def registered_apps(self) -> list[str]:
        """Applications with an open websocket (what GET /applications lists)."""
        names = (n for ws in self.live_sockets for n in self._socket_apps.get(ws, ()))
        return list(dict.fromkeys(names))

    async def wait_request(
        self, method: str, path_regex: str, within: float = 5.0, count: int = 1
    ) -> Recorded:
        pattern = re.compile(path_regex)

        def matches() -> list[Recorded]:
            return [r for r in self.requests if r.method == method and pattern.fullmatch(r.path)]

        await self._wait(lambda: len(matches()) >= count, within)
        return matches()[count - 1]

    def requested(self, method: str, path_regex: str) -> list[Recorded]:
        pattern = re.compile(path_regex)
        return [r for r in self.requests if r.method == method and pattern.fullmatch(r.path)]

    async def _wait(self, predicate: Any, within: float) -> None:
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(predicate)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # -- websocket ----------------------------------------------------------------------
    async def _events(self, request: web.Request) -> web.StreamResponse:
        self._record(request, "/events")
        await self._notify()
        if request.headers.get("Authorization") != basic_auth_header(USER, PASSWORD):
            return web.json_response({"message": "Authentication required"}, status=401)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._socket_apps[ws] = tuple(request.query.get("app", self.app).split(","))
        self.sockets.append(ws)
        self.connections += 1
        await self._notify()
        async for msg in ws:
            if msg.type is WSMsgType.ERROR:
                break
        await self._notify()
        return ws

    # -- REST ---------------------------------------------------------------------------
    def _record(self, request: web.Request, path: str, raw_path: str = "") -> None:
        auth = request.headers.get("Authorization", "")
        query = dict(request.query)
        self.requests.append(Recorded(request.method, path, raw_path or path, query, auth))

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        raw_path = request.raw_path.split("?")[0][len("/ari") :]
        parts = [unquote(segment) for segment in raw_path.strip("/").split("/")]
        path = "/" + "/".join(parts)
        self._record(request, path, raw_path)
        await self._notify()
        if request.headers.get("Authorization") != basic_auth_header(USER, PASSWORD):
            return web.json_response({"message": "Authentication required"}, status=401)
        for fault in self.faults:
            if fault.times > 0 and fault.method == request.method and fault.pattern.fullmatch(path):
                fault.times -= 1
                return web.Response(status=fault.status, text=fault.body)
        return await self._simulate(request.method, parts, request.query)

    async def _simulate(self, method: str, parts: list[str], query: Any) -> web.StreamResponse:
        doctor = self._doctor(method, parts, query)
        if doctor is not None:
            return doctor
        match method, parts:
            case "GET", ["channels"]:
                return web.json_response(list(self.channels.values()))
            case "GET", ["bridges"]:
                return web.json_response(list(self.bridges.values()))
            case "GET", ["channels", channel_id]:
                if channel_id not in self.channels:
                    return _not_found("Channel not found")
                if channel_id in self.leaving:
                    self.leaving.discard(channel_id)
                    return web.json_response(self.channels.pop(channel_id))
                return web.json_response(self.channels[channel_id])
            case "GET", ["endpoints", *tech]:
                found = [e for e in self.endpoints if tech in ([], [e["technology"]])]
                return web.json_response(found)
            case "GET", ["deviceStates", name] if name in self.device_states:
                return web.json_response({"name": name, "state": self.device_states[name]})
            case "POST", ["channels", channel_id]:
                return await self._originate(channel_id, query)
            case "DELETE", ["channels", channel_id]:
                chan = self.channels.pop(channel_id, None)
                if chan is None:
                    return _not_found("Channel not found")
                await self._gone(chan, cause=16)
                return web.Response(status=204)
            case _, ["channels", channel_id, *_] if channel_id not in self.channels:
                return _not_found("Channel not found")
            case _, ["channels", channel_id, _, *_] if channel_id not in self.in_stasis:
                return web.json_response(
                    {"message": "Channel not in Stasis application"}, status=409
                )
            case "POST", ["channels", channel_id, "continue"]:
                return await self._continue(channel_id)
            case "POST", ["channels", channel_id, "play", playback_id]:
                return await self._play(channel_id, playback_id, query)
            case "GET", ["playbacks", playback_id]:
                if playback_id not in self.playbacks:
                    return _not_found("Playback not found")
                return web.json_response(self.playbacks[playback_id])
            case "POST", ["bridges", bridge_id]:
                bridge = {"id": bridge_id, "bridge_type": "mixing", "channels": []}
                self.bridges[bridge_id] = bridge
                return web.json_response(bridge)
            case "POST", ["bridges", bridge_id, "addChannel"]:
                return await self._add_to_bridge(bridge_id, str(query.get("channel", "")))
            case "DELETE", ["bridges", bridge_id]:
                if self.bridges.pop(bridge_id, None) is None:
                    return _not_found("Bridge not found")
                await self._finish_recordings(f"bridge:{bridge_id}")
                return web.Response(status=204)
            case "POST", ["bridges", bridge_id, "record"]:
                return await self._record_bridge(bridge_id, query)
            case "GET", ["recordings", "live", name]:
                if name not in self.live_recordings:
                    return _not_found("Recording not found")
                return web.json_response(_public(self.live_recordings[name]))
            case "GET", ["recordings", "stored", name, "file"]:
                if name not in self.stored_recordings:
                    return _not_found("Recording not found")
                return web.Response(body=self.stored_recordings[name], content_type="audio/wav")
            case "DELETE", ["recordings", "stored", name]:
                if self.stored_recordings.pop(name, None) is None:
                    return _not_found("Recording not found")
                return web.Response(status=204)
        return web.Response(status=204)

    def _doctor(self, method: str, parts: list[str], query: Any) -> web.Response | None:
        """Asterisk info, applications, globals, and channels that are created but
        never dialled (as Asterisk 22 answers them); None: not one of these."""
        match method, parts:
            case "GET", ["asterisk", "info"]:
                return web.json_response({"system": {"version": "22.10.1-fake", "entity_id": ""}})
            case "GET", ["applications"]:
                return web.json_response([{"name": n} for n in self.registered_apps])
            case "GET", ["asterisk", "variable"]:
                return web.json_response({"value": self.globals.get(query.get("variable"), "")})
            case "POST", ["channels", "create"]:
                channel_id = f"17960598{next(self._ids):02d}.0"
                if str(query.get("app")) in self.registered_apps:  # else it dies at once
                    self.created[channel_id] = str(query["app"])
                return web.json_response({"id": channel_id, "state": "Down"})
            case "GET", ["channels", channel_id, "variable"] if channel_id in self.created:
                return self._read_on_channel(str(query.get("variable", "")))
            case "DELETE", ["channels", channel_id] if channel_id in self.created:
                del self.created[channel_id]
                return web.Response(status=204)
        return None

    def _read_on_channel(self, variable: str) -> web.Response:
        match = DIALPLAN_EXISTS.fullmatch(variable)
        if match is None:
            return web.json_response({"value": self.globals.get(variable, "")})
        if not self.dialplan_functions:
            return web.json_response({"message": "Unable to read provided function"}, status=500)
        return web.json_response({"value": "1" if match.group(1) in self.contexts else "0"})

    async def _record_bridge(self, bridge_id: str, query: Any) -> web.StreamResponse:
        """A bridge recording: live until the bridge is destroyed, then stored (a WAV
        of silence as long as the recording lasted)."""
        if bridge_id not in self.bridges:
            return _not_found("Bridge not found")
        name = str(query.get("name", ""))
        if name in self.live_recordings or name in self.stored_recordings:
            return web.json_response({"message": "Recording already exists"}, status=409)
        recording = {
            "name": name,
            "format": str(query.get("format", "wav")),
            "state": "recording",
            "target_uri": f"bridge:{bridge_id}",
            "_started": time.monotonic(),
        }
        self.live_recordings[name] = recording
        await self.push({"type": "RecordingStarted", "recording": _public(recording)})
        return web.json_response(_public(recording), status=201)

    async def _finish_recordings(self, target_uri: str) -> None:
        for name, recording in list(self.live_recordings.items()):
            if recording["target_uri"] != target_uri:
                continue
            del self.live_recordings[name]
            seconds = time.monotonic() - recording["_started"]
            self.stored_recordings[name] = silent_wav(seconds)
            done = {**_public(recording), "state": "done", "duration": round(seconds)}
            await self.push({"type": "RecordingFinished", "recording": done})

    async def _originate(self, channel_id: str, query: Any) -> web.StreamResponse:
        args = str(query.get("appArgs", "")).split(",")
        chan = self.channel_json(channel_id, args=",".join(args))
        chan["name"] = f"{query.get('endpoint', 'PJSIP/x')}-{channel_id}"
        chan["state"] = "Down"  # ringing: not in Stasis until answered
        chan["_app_data"] = chan["dialplan"]["app_data"]
        chan["dialplan"].update(app_name="AppDial2", app_data="(Outgoing Line)")
        self.channels[channel_id] = chan
        if self.answer_originates:
            task = asyncio.create_task(self.stasis_start(channel_id, args))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        return web.json_response(chan)

    async def _play(self, channel_id: str, playback_id: str, query: Any) -> web.StreamResponse:
        if channel_id not in self.channels:
            return _not_found("Channel not found")
        playback = {
            "id": playback_id,
            "media_uri": str(query.get("media", "")),
            "target_uri": f"channel:{channel_id}",
            "state": "playing",
        }
        await self.push({"type": "PlaybackStarted", "playback": playback})
        if self.finish_playbacks:
            await self.push({"type": "PlaybackFinished", "playback": {**playback, "state": "done"}})
        else:
            self.playbacks[playback_id] = playback
        return web.json_response(playback, status=201)

    async def _continue(self, channel_id: str) -> web.StreamResponse:
        """The channel leaves our app for the dialplan (it goes on existing there)."""
        chan = self.channels[channel_id]
        self.in_stasis.discard(channel_id)
        self._stop_playbacks(channel_id)
        await self.push({"type": "StasisEnd", "channel": chan})
        chan["dialplan"].update(app_name="Dial", app_data="PJSIP/agent100&PJSIP/agent101,20")
        return web.Response(status=204)

    def _stop_playbacks(self, channel_id: str) -> None:
        for playback_id, playback in list(self.playbacks.items()):
            if playback["target_uri"] == f"channel:{channel_id}":
                del self.playbacks[playback_id]

    async def _add_to_bridge(self, bridge_id: str, channels: str) -> web.StreamResponse:
        bridge = self.bridges.get(bridge_id)
        if bridge is None:
            return _not_found("Bridge not found")
        for channel_id in channels.split(","):
            if channel_id not in self.channels:
                return web.json_response({"message": "Channel not found"}, status=400)
            if channel_id not in self.in_stasis:
                return web.json_response({"message": "Channel not in Stasis"}, status=422)
            bridge["channels"].append(channel_id)
            await self.push(
                {
                    "type": "ChannelEnteredBridge",
                    "bridge": bridge,
                    "channel": self.channels[channel_id],
                }
            )
        return web.Response(status=204)

    async def _gone(self, chan: dict[str, Any], cause: int) -> None:
        for bridge in self.bridges.values():
            if chan["id"] in bridge["channels"]:
                bridge["channels"].remove(chan["id"])
        self._stop_playbacks(chan["id"])
        if chan["id"] in self.in_stasis:
            self.in_stasis.discard(chan["id"])
            await self.push({"type": "StasisEnd", "channel": chan})
        await self.push(
            {"type": "ChannelDestroyed", "cause": cause, "cause_txt": "Normal", "channel": chan}
        )


def _public(recording: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in recording.items() if not k.startswith("_")}


def silent_wav(seconds: float) -> bytes:
    """What Asterisk stores for a recording: 8 kHz 16-bit mono WAV (silence here)."""
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(b"\0\0" * int(8000 * seconds))
    return out.getvalue()


def _not_found(message: str) -> web.Response:
    return web.json_response({"message": message}, status=404)
