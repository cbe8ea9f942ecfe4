"""A thin ARI REST client on aiohttp.

It speaks HTTP and nothing else: no call logic, no retries that change meaning.
Every non-2xx answer becomes :class:`AriError` carrying status and body; a
network failure is an :class:`AriUnavailable` (status 0). Callers decide what a
404 means (usually: the channel is gone).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import aiohttp
from yarl import URL

from .events import (
    Bridge,
    Channel,
    DeviceState,
    Endpoint,
    Playback,
    parse_bridge,
    parse_channel,
    parse_device_state,
    parse_endpoint,
    parse_playback,
)

Params = Mapping[str, str | int]


class AriError(Exception):
    """Asterisk answered a REST call with an error status."""

    def __init__(self, status: int, body: str, method: str = "", path: str = "") -> None:
        super().__init__(f"ARI {method} {path} -> {status}: {body[:300]}")
        self.status = status
        self.body = body
        self.method = method
        self.path = path


class AriUnavailable(AriError):
    """Asterisk could not be reached (refused, reset, timed out)."""

    def __init__(self, reason: str, method: str = "", path: str = "") -> None:
        super().__init__(0, reason, method, path)


def basic_auth_header(username: str, password: str) -> str:
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def segment(value: str) -> str:
    """Percent-encode one path segment (ids may hold '/', '@', spaces ...)."""
    return quote(value, safe="")


class AriClient:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        username: str,
        password: str,
        *,
        request_timeout: float = 10.0,
    ) -> None:
        self._session = session
        self._base = base_url.rstrip("/") + "/ari"
        self._headers = {"Authorization": basic_auth_header(username, password)}
        self._timeout = aiohttp.ClientTimeout(total=request_timeout)
        self._endpoints_seen: dict[str, tuple[str, tuple[Endpoint, ...]]] = {}

    async def request(
        self,
        method: str,
        path: str,
        params: Params | None = None,
        body: Any = None,
    ) -> Any:
        """One REST call; ``path`` must already have its segments encoded."""
        return self._decode(await self._text(method, path, params, body), method, path)

    async def _text(
        self, method: str, path: str, params: Params | None = None, body: Any = None
    ) -> str:
        """One REST call's answer as sent (2xx), undecoded."""
        url = URL(self._base + path, encoded=True)
        query = {k: str(v) for k, v in (params or {}).items()}
        data = json.dumps(body) if body is not None else None
        headers = dict(self._headers)
        if data is not None:
            headers["Content-Type"] = "application/json"
        try:
            async with self._session.request(
                method, url, params=query, data=data, headers=headers, timeout=self._timeout
            ) as resp:
                text = await resp.text()
                if resp.status >= 300:
                    raise AriError(resp.status, text, method, path)
                return text
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise AriUnavailable(f"{type(exc).__name__}: {exc}", method, path) from exc
        except ValueError as exc:  # a 2xx body that is not text (UnicodeDecodeError)
            raise AriError(502, f"invalid JSON from Asterisk: {exc}", method, path) from exc

    @staticmethod
    def _decode(text: str, method: str, path: str) -> Any:
        try:
            return json.loads(text) if text.strip() else None
        except ValueError as exc:  # 2xx with a body that is not JSON
            raise AriError(502, f"invalid JSON from Asterisk: {exc}", method, path) from exc

    # -- channels -----------------------------------------------------------------------
    async def list_channels(self) -> list[Channel]:
        raw = await self.request("GET", "/channels")
        return [parse_channel(c) for c in raw or [] if isinstance(c, dict) and "id" in c]

    async def get_channel(self, channel_id: str) -> Channel:
        return parse_channel(await self.request("GET", f"/channels/{segment(channel_id)}"))

    async def answer(self, channel_id: str) -> None:
        await self.request("POST", f"/channels/{segment(channel_id)}/answer")

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        await self.request("DELETE", f"/channels/{segment(channel_id)}", {"reason": reason})

    async def continue_in_dialplan(
        self,
        channel_id: str,
        *,
        context: str | None = None,
        extension: str | None = None,
        priority: int | None = None,
        label: str | None = None,
    ) -> None:
        params: dict[str, str | int] = {}
        for key, value in (
            ("context", context),
            ("extension", extension),
            ("priority", priority),
            ("label", label),
        ):
            if value is not None:
                params[key] = value
        await self.request("POST", f"/channels/{segment(channel_id)}/continue", params)

    async def play(
        self, channel_id: str, media: str, playback_id: str, *, lang: str | None = None
    ) -> None:
        params: dict[str, str | int] = {"media": media}
        if lang:
            params["lang"] = lang
        await self.request(
            "POST", f"/channels/{segment(channel_id)}/play/{segment(playback_id)}", params
        )

    async def originate(
        self,
        endpoint: str,
        channel_id: str,
        *,
        app: str,
        app_args: Sequence[str] = (),
        ring_timeout: int = 30,
        caller_id: str | None = None,
        variables: Mapping[str, str] | None = None,
    ) -> Channel:
        params: dict[str, str | int] = {
            "endpoint": endpoint,
            "app": app,
            "appArgs": ",".join(app_args),
            "timeout": ring_timeout,
        }
        if caller_id:
            params["callerId"] = caller_id
        body = {"variables": dict(variables)} if variables else None
        raw = await self.request("POST", f"/channels/{segment(channel_id)}", params, body)
        return parse_channel(raw)

    async def ring(self, channel_id: str) -> None:
        await self.request("POST", f"/channels/{segment(channel_id)}/ring")

    async def ring_stop(self, channel_id: str) -> None:
        await self.request("DELETE", f"/channels/{segment(channel_id)}/ring")

    async def moh_start(self, channel_id: str, moh_class: str | None = None) -> None:
        params = {"mohClass": moh_class} if moh_class else None
        await self.request("POST", f"/channels/{segment(channel_id)}/moh", params)

    async def moh_stop(self, channel_id: str) -> None:
        await self.request("DELETE", f"/channels/{segment(channel_id)}/moh")

    async def record(
        self,
        channel_id: str,
        name: str,
        *,
        format: str = "wav",
        max_duration: int = 0,
        max_silence: int = 0,
        beep: bool = True,
        terminate_on: str = "#",
        if_exists: str = "fail",
    ) -> None:
        params = _record_params(
            name, format, max_duration, max_silence, beep, terminate_on, if_exists
        )
        await self.request("POST", f"/channels/{segment(channel_id)}/record", params)

    # -- bridges ------------------------------------------------------------------------
    async def list_bridges(self) -> list[Bridge]:
        raw = await self.request("GET", "/bridges")
        return [parse_bridge(b) for b in raw or [] if isinstance(b, dict) and "id" in b]

    async def create_bridge(self, bridge_id: str, bridge_type: str = "mixing") -> Bridge:
        raw = await self.request("POST", f"/bridges/{segment(bridge_id)}", {"type": bridge_type})
        return parse_bridge(raw)

    async def add_to_bridge(self, bridge_id: str, channel_ids: Sequence[str]) -> None:
        await self.request(
            "POST", f"/bridges/{segment(bridge_id)}/addChannel", {"channel": ",".join(channel_ids)}
        )

    async def remove_from_bridge(self, bridge_id: str, channel_ids: Sequence[str]) -> None:
        await self.request(
            "POST",
            f"/bridges/{segment(bridge_id)}/removeChannel",
            {"channel": ",".join(channel_ids)},
        )

    async def destroy_bridge(self, bridge_id: str) -> None:
        await self.request("DELETE", f"/bridges/{segment(bridge_id)}")

    async def record_bridge(
        self, bridge_id: str, name: str, *, format: str = "wav", beep: bool = False
    ) -> None:
        """Record everything said in the bridge (a bridged channel cannot be recorded:
        409) until the bridge is destroyed; ``name`` must not exist yet."""
        params = _record_params(name, format, 0, 0, beep, "none", "fail")
        await self.request("POST", f"/bridges/{segment(bridge_id)}/record", params)

    # -- playbacks, recordings ----------------------------------------------------------
    async def get_playback(self, playback_id: str) -> Playback:
        raw = await self.request("GET", f"/playbacks/{segment(playback_id)}")
        return parse_playback(raw if isinstance(raw, dict) else {})

    async def stop_playback(self, playback_id: str) -> None:
        await self.request("DELETE", f"/playbacks/{segment(playback_id)}")

    async def stop_recording(self, name: str) -> None:
        await self.request("POST", f"/recordings/live/{segment(name)}/stop")

    async def live_recording_state(self, name: str) -> str:
        """The state of a recording still being made ("recording", "paused" ...);
        AriError 404 once it has finished (or never started)."""
        raw = await self.request("GET", f"/recordings/live/{segment(name)}")
        return str(raw.get("state", "")) if isinstance(raw, dict) else ""

    async def stored_recording_file(self, name: str) -> bytes:
        """The audio of a finished recording (Asterisk 14+), as stored (e.g. WAV)."""
        url = URL(f"{self._base}/recordings/stored/{segment(name)}/file", encoded=True)
        path = f"/recordings/stored/{segment(name)}/file"
        try:
            async with self._session.get(url, headers=self._headers, timeout=self._timeout) as resp:
                body = await resp.read()
                if resp.status >= 300:
                    raise AriError(resp.status, body[:300].decode(errors="replace"), "GET", path)
                return body
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise AriUnavailable(f"{type(exc).__name__}: {exc}", "GET", path) from exc

    async def delete_stored_recording(self, name: str) -> None:
        await self.request("DELETE", f"/recordings/stored/{segment(name)}")

    # -- endpoints, device states, applications -----------------------------------------
    async def list_endpoints(self, technology: str | None = None) -> list[Endpoint]:
        """Every endpoint. Read every second (the daemon's poll): an answer the same as
        the last one, to the byte, is not decoded again (hundreds of phones)."""
        path = f"/endpoints/{segment(technology)}" if technology else "/endpoints"
        text = await self._text("GET", path)
        seen = self._endpoints_seen.get(path)
        if seen is not None and seen[0] == text:
            return list(seen[1])
        raw = self._decode(text, "GET", path)
        endpoints = [parse_endpoint(e) for e in raw or [] if isinstance(e, dict)]
        self._endpoints_seen[path] = (text, tuple(endpoints))
        return endpoints

    async def get_endpoint(self, technology: str, resource: str) -> Endpoint:
        raw = await self.request("GET", f"/endpoints/{segment(technology)}/{segment(resource)}")
        return parse_endpoint(raw if isinstance(raw, dict) else {})

    async def list_device_states(self) -> list[DeviceState]:
        raw = await self.request("GET", "/deviceStates")
        return [parse_device_state(d) for d in raw or [] if isinstance(d, dict)]

    async def get_device_state(self, name: str) -> DeviceState:
        raw = await self.request("GET", f"/deviceStates/{segment(name)}")
        return parse_device_state(raw if isinstance(raw, dict) else {})

    async def subscribe(self, app: str, event_source: str) -> None:
        await self.request(
            "POST", f"/applications/{segment(app)}/subscription", {"eventSource": event_source}
        )


def _record_params(
    name: str,
    format: str,
    max_duration: int,
    max_silence: int,
    beep: bool,
    terminate_on: str,
    if_exists: str,
) -> dict[str, str | int]:
    return {
        "name": name,
        "format": format,
        "maxDurationSeconds": max_duration,
        "maxSilenceSeconds": max_silence,
        "beep": "true" if beep else "false",
        "terminateOn": terminate_on,
        "ifExists": if_exists,
    }
