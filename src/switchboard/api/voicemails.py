"""Voicemails: the list (newest first, paged), the audio, marking one heard.

The audio's path comes from the voicemail's row (written by the daemon), never
from the request, and is served only if it lies under ``voicemail.directory``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from aiohttp import web

from switchboard.config import ApiScope

from . import store
from .context import CONTEXT, scoped
from .errors import ApiError
from .query import boolean, identifier, next_cursor, page, params, text
from .render import jsonable

log = logging.getLogger("switchboard.api")
MAX_ID_CHARS = 200


def _public(row: store.VoicemailRow) -> dict[str, object]:
    body = {name: jsonable(getattr(row, name)) for name in row.__slots__ if name != "file"}
    body["heard"] = row.heard_at is not None
    body["audio"] = f"/voicemails/{row.id}/audio"
    return body


async def list_voicemails(request: web.Request) -> web.Response:
    """GET /voicemails?mailbox=&heard=&limit=&cursor="""
    query = params(request.query, ("limit", "cursor", "mailbox", "heard"))
    mailbox, heard, wanted = text(query, "mailbox"), boolean(query, "heard"), page(query, 2)
    rows = await store.run(request, lambda pool: store.voicemails(pool, wanted, mailbox, heard))
    shown = rows[: wanted.limit]
    cursor = next_cursor(rows, wanted, store.voicemail_key(shown[-1])) if shown else None
    return web.json_response({"voicemails": [_public(r) for r in shown], "next_cursor": cursor})


def _found(row: store.VoicemailRow | None) -> store.VoicemailRow:
    if row is None:
        raise ApiError(404, "voicemail_not_found", "no such voicemail")
    return row


def _voicemail_id(request: web.Request) -> str:
    voicemail_id = request.match_info["voicemail_id"]
    if not identifier(voicemail_id, MAX_ID_CHARS):
        raise ApiError(404, "voicemail_not_found", "no such voicemail")
    return voicemail_id


async def audio(request: web.Request) -> web.StreamResponse:
    """GET /voicemails/{id}/audio: the WAV file, streamed from disk."""
    voicemail_id = _voicemail_id(request)
    row = _found(await store.run(request, lambda p: store.voicemail(p, voicemail_id)))
    path = servable(Path(row.file), request.app[CONTEXT].voicemail_directory)
    if path is None:
        log.warning("api.voicemail_audio_missing", extra={"voicemail": row.id, "file": row.file})
        raise ApiError(404, "audio_not_found", "the voicemail's audio file is not on this server")
    headers = {"Content-Disposition": f'attachment; filename="voicemail-{row.id}.wav"'}
    response = web.FileResponse(path, headers=headers)
    response.content_type = "audio/wav"
    return response


def servable(path: Path, directory: Path | None) -> Path | None:
    """The file if it exists under ``directory`` (a configured one: voicemail, recordings)."""
    if directory is None:
        return None
    resolved = path.resolve()
    if not resolved.is_relative_to(directory.resolve()) or not resolved.is_file():
        return None
    return resolved


async def mark_heard(request: web.Request) -> web.Response:
    """POST /voicemails/{id}/heard: the row, with when it was first heard."""
    voicemail_id = _voicemail_id(request)
    row = _found(await store.run(request, lambda p: store.mark_heard(p, voicemail_id)))
    return web.json_response(_public(row))


def mount(app: web.Application) -> None:
    app.router.add_get("/voicemails", list_voicemails, name="voicemails")
    app.router.add_get("/voicemails/{voicemail_id}/audio", audio, name="voicemail_audio")
    app.router.add_post("/voicemails/{voicemail_id}/heard", mark_heard, name="voicemail_heard")
    scoped(app, ApiScope.READ, "voicemails")
    scoped(app, ApiScope.AUDIO, "voicemail_audio")
    scoped(app, ApiScope.AGENTS, "voicemail_heard")  # (working through them: not read-only)
