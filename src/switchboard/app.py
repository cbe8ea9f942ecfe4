"""The composition root: builds the adapters and the supervisor and runs them."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aiohttp

from switchboard.ari import ApplicationTakenOver, AriClient, EventStream
from switchboard.config import Config
from switchboard.daemon import Supervisor
from switchboard.daemon.executor import Executor
from switchboard.flows.registry import FlowRegistry

log = logging.getLogger("switchboard.daemon")
HANDBACK_GRACE_S = 5.0


async def run_daemon(config: Config, flows: FlowRegistry, stop: asyncio.Event) -> int:
    """Run until ``stop`` is set (then drain and return 0) or the app is taken over (1)."""
    async with aiohttp.ClientSession() as session:
        ari_cfg = config.ari
        client = AriClient(session, ari_cfg.url, ari_cfg.username, ari_cfg.password)
        executor = Executor(client, ari_cfg.app)
        supervisor = Supervisor(
            client, executor, ari_cfg.app, lambda: flows.current, config.daemon.stall_guard
        )
        stream = EventStream(
            session,
            ari_cfg.url,
            ari_cfg.username,
            ari_cfg.password,
            ari_cfg.app,
            on_event=supervisor.on_event,
            on_connect=supervisor.reconcile,
        )
        stream_task = asyncio.create_task(stream.run(), name="ari-stream")
        stop_task = asyncio.create_task(stop.wait(), name="stop")
        helpers = [stream_task, stop_task]
        if config.flows.watch_interval > 0:
            helpers.append(asyncio.create_task(flows.watch(config.flows.watch_interval)))
        log.info(
            "daemon.started",
            extra={"app": ari_cfg.app, "ari": ari_cfg.url, "flows_version": flows.current.version},
        )
        await asyncio.wait({stream_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
        code = 0
        if stream_task.done():
            code = _stream_ended(stream_task)
            if code == 1 and not isinstance(stream_task.exception(), ApplicationTakenOver):
                # Deaf to events: hand back every call not yet connected.
                await supervisor.drain(HANDBACK_GRACE_S)
        else:
            log.info("daemon.draining", extra={"calls": supervisor.calls_in_progress})
            left = await supervisor.drain(config.daemon.drain_timeout)
            log.info("daemon.drained", extra={"calls_left_in_asterisk": left})
        for task in helpers:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*helpers, return_exceptions=True)
        log.info("daemon.stopped", extra={"exit_code": code})
        return code


def _stream_ended(task: asyncio.Task[None]) -> int:
    exc = task.exception() if not task.cancelled() else None
    if isinstance(exc, ApplicationTakenOver):
        log.error(
            "daemon.app_taken_over",
            extra={"detail": "another client connected as this ARI application; stopping"},
        )
    else:
        log.error("daemon.stream_failed", extra={"error": repr(exc)})
    return 1
