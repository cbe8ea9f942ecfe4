"""Recorded calls: ``GET /recordings/{id}/audio`` (the call log's rows link to it).

As for voicemail, the file's path comes from the recording's row (written by the
daemon), never from the request, and is served only from under
``recording.directory``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from aiohttp import web

from switchboard.config import ApiScope

from . import store
from .context import CONTEXT, scoped
from .errors import ApiError
from .query import identifier
from .voicemails import MAX_ID_CHARS, servable

log = logging.getLogger("switchboard.api")


async def audio(request: web.Request) -> web.StreamResponse:
    """GET /recordings/{id}/audio: the conversation's WAV, streamed from disk."""
    recording_id = request.match_info["recording_id"]
    if not identifier(recording_id, MAX_ID_CHARS):
        raise ApiError(404, "recording_not_found", "no such recording")
    file = await store.run(request, lambda pool: store.recording_file(pool, recording_id))
    if file is None:  # not recorded, or not yet stored (the keeper retries until it is)
        raise ApiError(404, "recording_not_found", "no such recording (or not stored yet)")
    path = servable(Path(file), request.app[CONTEXT].recording_directory)
    if path is None:
        log.warning("api.recording_audio_missing", extra={"recording": recording_id, "file": file})
        raise ApiError(404, "audio_not_found", "the recording's audio file is not on this server")
    headers = {"Content-Disposition": f'attachment; filename="{recording_id}.wav"'}
    response = web.FileResponse(path, headers=headers)
    response.content_type = "audio/wav"
    return response


def mount(app: web.Application) -> None:
    app.router.add_get("/recordings/{recording_id}/audio", audio, name="recording_audio")
    scoped(app, ApiScope.AUDIO, "recording_audio")
