"""The composition root: builds the adapters and the supervisor and runs them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import aiohttp

from switchboard import pages
from switchboard.agi import start_agi
from switchboard.api import (
    ApiContext,
    ApiServer,
    Mount,
    activity,
    agents,
    history,
    make_app,
    ops,
    privacy,
    recordings,
    voicemails,
)
from switchboard.api.connections import connection_cap, fd_reserve, raise_open_files_limit
from switchboard.ari import ApplicationTakenOver, AriClient, EventStream
from switchboard.callbacks import CallbackStore
from switchboard.calllog import CallLog
from switchboard.config import Config
from switchboard.daemon import Supervisor
from switchboard.daemon.executor import Executor
from switchboard.daemon.targets import TargetBook
from switchboard.db import DB_ERRORS, Database
from switchboard.dialpolicy import CallbackGate
from switchboard.flows.registry import FlowRegistry
from switchboard.live import LiveHub
from switchboard.metrics import Metrics
from switchboard.recording import RecordingKeeper
from switchboard.retention import CallerEraser, build_sweeper
from switchboard.retention.spools import Spools
from switchboard.routing.repository import ROUTING_SETTINGS
from switchboard.voicemail import VoicemailKeeper
from switchboard.webcallback import CallbackApi, WebCallbacks, WebCallbackStore, callback_routes

log = logging.getLogger("switchboard.daemon")
HANDBACK_GRACE_S = 5.0
VOICEMAIL_FLUSH_S = 10.0


def make_clock(start: datetime | None) -> Callable[[], datetime]:
    """The daemon's clock: the system's, or one that starts at ``start`` and runs."""
    if start is None:
        return lambda: datetime.now(UTC)
    origin = time.monotonic()
    return lambda: start + timedelta(seconds=time.monotonic() - origin)


async def run_daemon(config: Config, flows: FlowRegistry, stop: asyncio.Event) -> int:
    """Run until ``stop`` is set (then drain and return 0) or the app is taken over (1)."""
    async with aiohttp.ClientSession() as session:
        ari_cfg = config.ari
        client = AriClient(session, ari_cfg.url, ari_cfg.username, ari_cfg.password)
        executor = Executor(client, ari_cfg.app)
        start = config.daemon.clock_start
        if start is not None:
            log.warning("daemon.clock_set", extra={"starts_at": start.isoformat()})
        database = (
            Database(config.database.url, config.database.schema) if config.database else None
        )
        metrics = Metrics()
        keeper = None
        if config.voicemail is not None:
            keeper = VoicemailKeeper(
                config.voicemail,
                config.smtp,
                client.stored_recording_file,
                client.delete_stored_recording,
                database,
            )
            keeper.on_db_error = metrics.db_error_hook("voicemail")
        recorder = None
        if config.recording is not None:
            recorder = RecordingKeeper(
                config.recording,
                client.live_recording_state,
                client.stored_recording_file,
                client.delete_stored_recording,
                database,
            )
            recorder.on_db_error = metrics.db_error_hook("recording")
        spools = Spools.of(config)  # (erasure reads the same folders)
        callbacks = CallbackStore(spools.callbacks, database)
        callbacks.on_db_error = metrics.db_error_hook("callbacks")
        call_log = CallLog(spools.calls, database)
        call_log.on_db_error = metrics.db_error_hook("calllog")
        live = LiveHub()  # calls as they happen, for the screen pop and wallboard pages
        clock = make_clock(start)
        # One number policy and one per-number limit for queue and web callbacks.
        gate = CallbackGate(config.dial_policy)
        sweeper = build_sweeper(  # keep_days: what is older is deleted (docs/deploy.md)
            config,
            database,
            clock,
            spooled_voicemails=lambda: [j.id for j in keeper.pending()] if keeper else [],
            spooled_recordings=lambda: [j.id for j in recorder.pending()] if recorder else [],
        )
        if sweeper is not None:
            sweeper.on_db_error = metrics.db_error_hook("retention")
        supervisor = Supervisor(
            client,
            executor,
            ari_cfg.app,
            lambda: flows.current,
            config.daemon.stall_guard,
            book=TargetBook(),
            voicemail=keeper,
            callbacks=callbacks,
            clock=clock,
            database=(
                Database(config.database.url, config.database.schema, ROUTING_SETTINGS)
                if config.database
                else None
            ),
            routing=config.routing,
            call_log=call_log,
            metrics=metrics,
            live=live,
            recorder=recorder,
            callback_gate=gate,
        )
        await supervisor.restore_callbacks(await callbacks.pending())
        web_callbacks = _web_callbacks(config, supervisor, database)
        if web_callbacks is not None:
            web_callbacks.store.on_db_error = metrics.db_error_hook("webcallbacks")
        stream = EventStream(
            session,
            ari_cfg.url,
            ari_cfg.username,
            ari_cfg.password,
            ari_cfg.app,
            on_event=supervisor.on_event,
            on_connect=supervisor.reconcile,
        )
        metrics.read_at_scrape(
            calls_in_progress=lambda: supervisor.calls_in_progress,
            ari_reconnects=lambda: stream.reconnects,
        )
        api = None
        if config.api is not None:
            context = ApiContext(
                config.api,
                ari_connected=lambda: stream.connected,
                supervisor=supervisor,
                flows=flows,
                database=database,
                metrics=metrics,
                voicemail_directory=config.voicemail.directory if config.voicemail else None,
                recording_directory=config.recording.directory if config.recording else None,
                live=live,
                clock=clock,
                eraser=CallerEraser.of(config, database) if database is not None else None,
            )
            callback_api = None
            if web_callbacks is not None:
                callback_api = CallbackApi.build(web_callbacks, gate, metrics=metrics)
            app = make_app(context, route_groups(callback_api))
            api = ApiServer(app, config.api.host, config.api.port, _api_connections(config))
            try:
                await api.start()
            except OSError as exc:  # a port in use: say so and stop before taking any call
                log.error("api.listen_failed", extra={"listen": f"{api.host}:{api.port}",
                                                      "error": str(exc)})  # fmt: skip
                await supervisor.agents.close()
                if database is not None:
                    await database.close()
                return 2
        stream_task = asyncio.create_task(stream.run(), name="ari-stream")
        stop_task = asyncio.create_task(stop.wait(), name="stop")
        helpers = [stream_task, stop_task]
        if config.flows.watch_interval > 0:
            helpers.append(asyncio.create_task(flows.watch(config.flows.watch_interval)))
        if keeper is not None:
            helpers.append(asyncio.create_task(keeper.run(), name="voicemail"))
        helpers.append(asyncio.create_task(callbacks.run(), name="callbacks"))
        helpers.append(asyncio.create_task(supervisor.queues.run(), name="queues"))
        helpers.append(asyncio.create_task(supervisor.watch_endpoints(), name="endpoints"))
        helpers.append(asyncio.create_task(supervisor.agents.run(), name="routing"))
        helpers.append(asyncio.create_task(call_log.run(), name="call-log"))
        # What hands out agents besides calls; stopped before agents are released at stop.
        dispatchers: list[asyncio.Task[None]] = []
        if config.agi is not None:  # FastAGI (docs/agi.md); its failures stay its own
            dispatchers += start_agi(config.agi, supervisor, client, flows)
        if recorder is not None:
            helpers.append(asyncio.create_task(recorder.run(), name="recordings"))
        if sweeper is not None:
            helpers.append(asyncio.create_task(sweeper.run(), name="retention"))
        if web_callbacks is not None:
            helpers.append(
                asyncio.create_task(web_callbacks.store.run(), name="web-callbacks-store")
            )
            dispatchers.append(asyncio.create_task(web_callbacks.run(), name="web-callbacks"))
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
        for dispatcher in dispatchers:  # nothing new reserved from here on
            dispatcher.cancel()
        await asyncio.gather(*dispatchers, return_exceptions=True)
        if web_callbacks is not None:
            web_callbacks.release_all()
        try:  # agents reserved by calls that ended are freed now, not when leases expire
            async with asyncio.timeout(HANDBACK_GRACE_S):
                await supervisor.agents.flush()
        except (TimeoutError, *DB_ERRORS) as exc:
            log.warning("routing.flush_failed", extra={"error": repr(exc)})
        try:  # the calls that ended meanwhile; what is left stays spooled for the next start
            async with asyncio.timeout(HANDBACK_GRACE_S):
                await call_log.flush()
        except (TimeoutError, *DB_ERRORS) as exc:
            log.warning("calllog.flush_failed", extra={"error": repr(exc)})
        if web_callbacks is not None:  # status changes; new requests stay spooled anyway
            try:
                async with asyncio.timeout(HANDBACK_GRACE_S):
                    await web_callbacks.store.flush()
            except (TimeoutError, *DB_ERRORS) as exc:
                log.warning("webcallback.flush_failed", extra={"error": repr(exc)})
        if keeper is not None:  # one last pass: what is left stays in the spool
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(VOICEMAIL_FLUSH_S):
                    await keeper.flush()
        if recorder is not None:  # calls that ended just now: what is left stays spooled
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(VOICEMAIL_FLUSH_S):
                    await recorder.flush()
        for task in helpers:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*helpers, return_exceptions=True)
        if api is not None:
            await api.stop()
        if database is not None:
            await database.close()
        await supervisor.agents.close()
        log.info("daemon.stopped", extra={"exit_code": code})
        return code


def _api_connections(config: Config) -> int:
    """``api.max_connections``, lowered if the open-files limit (raised to the hard limit
    where allowed) would not leave the daemon its reserve: ARI, PostgreSQL, spools, AGI."""
    assert config.api is not None
    soft = raise_open_files_limit()
    reserve = fd_reserve(config.agi.max_sessions if config.agi else 0)
    cap = connection_cap(config.api.max_connections, soft, reserve)
    extra = {"max_connections": cap, "configured": config.api.max_connections,
             "open_files_limit": soft, "reserve": reserve}  # fmt: skip
    if cap < config.api.max_connections:
        log.warning("api.max_connections_lowered", extra=extra)
    else:
        log.info("api.open_files", extra=extra)
    return cap


def route_groups(callbacks: CallbackApi | None = None) -> list[Mount]:
    """Every route group the API application serves, in order (the tests build their
    apps from this list too): the API's own, the pages, the web callbacks if any."""
    features = (ops, activity, agents, history, recordings, voicemails, privacy)
    groups: list[Mount] = [*(feature.mount for feature in features), pages.mount]
    if callbacks is not None:
        groups.append(callback_routes(callbacks))
    return groups


def _web_callbacks(
    config: Config, supervisor: Supervisor, database: Database | None
) -> WebCallbacks | None:
    """Web callbacks (``callbacks:``), the supervisor told (their open requests are loaded
    when the dispatcher starts)."""
    if config.callbacks is None:
        return None
    store = WebCallbackStore(Spools.of(config).web_callbacks, database)
    service = WebCallbacks(
        config.callbacks, store, supervisor.clock, supervisor, gate=supervisor.callback_gate
    )
    service.on_refused = lambda reason: supervisor.metrics.callback_refused("web", reason)
    supervisor.web_callbacks = service
    return service


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
