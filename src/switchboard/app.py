"""The composition root: builds the adapters and the supervisor and runs them.

``run_daemon`` = ``build_services`` (every service constructed, one function or
block each; nothing started) + ``serve`` (their lifespans entered in one
``AsyncExitStack`` by ``start``, in dependency order, so they stop in reverse:
the order is written down in ``start``'s docstring and tested in
tests/unit/test_app_root.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
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
    blocklist,
    history,
    make_app,
    ops,
    privacy,
    recordings,
    voicemails,
)
from switchboard.api.connections import connection_cap, fd_reserve, raise_open_files_limit
from switchboard.ari.client import AriClient
from switchboard.ari.stream import ApplicationTakenOver, EventStream
from switchboard.blocklist import BlockSet, LiveBlocklist
from switchboard.callbacks import CallbackStore
from switchboard.calljournal import CallJournal
from switchboard.calllog import CallLog
from switchboard.config import Config
from switchboard.daemon import Supervisor
from switchboard.daemon.admission import Admission
from switchboard.daemon.executor import Executor
from switchboard.daemon.parts import CallHandling, call_handling
from switchboard.daemon.targets import TargetBook
from switchboard.db import Database
from switchboard.dialpolicy import CallbackGate
from switchboard.flows.registry import FlowRegistry
from switchboard.lifespan import Flush, Service, Workers, lifespan
from switchboard.live import LiveHub
from switchboard.metrics import Metrics
from switchboard.recording import RecordingKeeper
from switchboard.retention import CallerEraser, Sweeper, build_sweeper
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


@dataclass(frozen=True, slots=True)
class Services:
    """What the daemon is made of (``build_services``), for ``serve`` to run."""

    config: Config
    flows: FlowRegistry
    supervisor: Supervisor
    parts: CallHandling  # what the supervisor runs calls with (daemon.parts)
    stream: EventStream
    callbacks: CallbackStore
    call_log: CallLog
    database: Database | None = None
    api: ApiServer | None = None
    voicemail: VoicemailKeeper | None = None
    recorder: RecordingKeeper | None = None
    sweeper: Sweeper | None = None
    web_callbacks: WebCallbacks | None = None
    blocklist: LiveBlocklist | None = None  # (with a database: polled for changes)
    agi: Callable[[], list[asyncio.Task[None]]] | None = None  # starts FastAGI's tasks


class PortInUse(Exception):
    """The API could not listen (logged as ``api.listen_failed``): exit code 2."""


async def run_daemon(config: Config, flows: FlowRegistry, stop: asyncio.Event) -> int:
    """Run until ``stop`` is set (then drain and return 0) or the event stream ends
    (the app taken over, or the stream failed: 1); 2 if the API port is in use."""
    async with aiohttp.ClientSession() as session:
        services = await build_services(config, flows, session)
        try:
            code = await serve(services, stop)
        except PortInUse:  # said so, and stopped before taking any call
            return 2
        log.info("daemon.stopped", extra={"exit_code": code})
        return code


async def build_services(
    config: Config, flows: FlowRegistry, session: aiohttp.ClientSession
) -> Services:
    """Every service, built (nothing started; the callbacks spooled at the last stop
    are back in their queues)."""
    ari_cfg = config.ari
    client = AriClient(session, ari_cfg.url, ari_cfg.username, ari_cfg.password)
    executor = Executor(client, ari_cfg.app)
    start = config.daemon.clock_start
    if start is not None:
        log.warning("daemon.clock_set", extra={"starts_at": start.isoformat()})
    database = Database(config.database.url, config.database.schema) if config.database else None
    metrics = Metrics()
    keeper = _voicemail(config, client, database, metrics)
    recorder = _recorder(config, client, database, metrics)
    spools = Spools.of(config)  # (erasure reads the same folders)
    callbacks = CallbackStore(
        spools.callbacks, database, on_db_error=metrics.db_error_hook("callbacks")
    )
    call_log = CallLog(spools.calls, database, on_db_error=metrics.db_error_hook("calllog"))
    # The calls in progress, on disk: what a killed daemon's successor finds (calljournal).
    journal = (
        CallJournal(config.daemon.journal_path) if database and config.daemon.journal else None
    )
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
        on_db_error=metrics.db_error_hook("retention"),
    )
    parts = _call_handling(config, flows, executor, keeper=keeper, callbacks=callbacks,
                           clock=clock, metrics=metrics, live=live, recorder=recorder,
                           gate=gate)  # fmt: skip
    admission = Admission(config.admission, metrics.registry)  # (overload: shed new calls)
    blocked = LiveBlocklist(database) if database is not None else None
    supervisor = Supervisor(
        client, ari_cfg.app, parts, call_log=call_log, journal=journal, admission=admission,
        blocklist=(lambda: blocked.current) if blocked is not None else BlockSet,
    )  # fmt: skip
    web_callbacks = _web_callbacks(config, supervisor, database, metrics, clock, gate)
    await supervisor.restore_callbacks(await callbacks.pending())
    await supervisor.recover_journal()  # (before the first reconcile: it settles them)
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
        api = _api(config, flows, supervisor, stream, database, web_callbacks,
                   metrics=metrics, live=live, clock=clock, gate=gate,
                   blocklist=blocked)  # fmt: skip
    agi = None
    if config.agi is not None:  # FastAGI (docs/agi.md); its failures stay its own
        agi = functools.partial(start_agi, config.agi, parts.agents, clock, client, flows)
    return Services(
        config,
        flows,
        supervisor,
        parts,
        stream,
        callbacks,
        call_log,
        database=database,
        api=api,
        voicemail=keeper,
        recorder=recorder,
        sweeper=sweeper,
        web_callbacks=web_callbacks,
        blocklist=blocked,
        agi=agi,
    )


def _call_handling(
    config: Config,
    flows: FlowRegistry,
    executor: Executor,
    *,
    keeper: VoicemailKeeper | None,
    callbacks: CallbackStore,
    clock: Callable[[], datetime],
    metrics: Metrics,
    live: LiveHub,
    recorder: RecordingKeeper | None,
    gate: CallbackGate,
) -> CallHandling:
    """The call registry, the ports (call control, timers, lines, agent offers,
    keepers, callbacks) and the command table built from them (``daemon.parts``)."""
    return call_handling(
        executor,
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
        metrics=metrics,
        live=live,
        recorder=recorder,
        callback_gate=gate,
    )


def _voicemail(
    config: Config, client: AriClient, database: Database | None, metrics: Metrics
) -> VoicemailKeeper | None:
    if config.voicemail is None:
        return None
    return VoicemailKeeper(
        config.voicemail,
        config.smtp,
        client.stored_recording_file,
        client.delete_stored_recording,
        database,
        on_db_error=metrics.db_error_hook("voicemail"),
    )


def _recorder(
    config: Config, client: AriClient, database: Database | None, metrics: Metrics
) -> RecordingKeeper | None:
    if config.recording is None:
        return None
    return RecordingKeeper(
        config.recording,
        client.live_recording_state,
        client.stored_recording_file,
        client.delete_stored_recording,
        database,
        on_db_error=metrics.db_error_hook("recording"),
    )


def _api(
    config: Config,
    flows: FlowRegistry,
    supervisor: Supervisor,
    stream: EventStream,
    database: Database | None,
    web_callbacks: WebCallbacks | None,
    *,
    metrics: Metrics,
    live: LiveHub,
    clock: Callable[[], datetime],
    gate: CallbackGate,
    blocklist: LiveBlocklist | None,
) -> ApiServer:
    """The HTTP API (``api:``), not listening yet."""
    assert config.api is not None
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
        blocklist=blocklist,
    )
    callback_api = None
    if web_callbacks is not None:
        callback_api = CallbackApi.build(web_callbacks, gate, metrics=metrics)
    app = make_app(context, route_groups(callback_api))
    return ApiServer(app, config.api.host, config.api.port, _api_connections(config))


def route_groups(callbacks: CallbackApi | None = None) -> list[Mount]:
    """Every route group the API application serves, in order (the tests build their
    apps from this list too): the API's own, the pages, the web callbacks if any."""
    features = (ops, activity, agents, history, recordings, voicemails, privacy, blocklist)
    groups: list[Mount] = [*(feature.mount for feature in features), pages.mount]
    if callbacks is not None:
        groups.append(callback_routes(callbacks))
    return groups


async def serve(services: Services, stop: asyncio.Event) -> int:
    """Start the services (``start``), run until ``stop`` is set or the event stream
    ends, drain the calls; then the services stop (in reverse) and the exit code is
    returned. Raises ``PortInUse`` (nothing started, what was opened closed)."""
    async with contextlib.AsyncExitStack() as stack:
        stream_task, stop_task = await start(stack, services, stop)
        config = services.config
        log.info(
            "daemon.started",
            extra={"app": config.ari.app, "ari": config.ari.url,
                   "flows_version": services.flows.current.version},
        )  # fmt: skip
        await asyncio.wait({stream_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
        return await _drain(services, stream_task)


async def start(
    stack: contextlib.AsyncExitStack, services: Services, stop: asyncio.Event
) -> tuple[asyncio.Task[None], asyncio.Task[bool]]:
    """Enter the services' lifespans in ``stack``, in dependency order; returns the
    event stream's task and the one that waits for ``stop``.

    At its exit, after ``serve`` drained the calls, they stop in reverse:

    1. what hands out agents besides calls (cancelled): FastAGI, the web-callback
       dispatcher -- nothing new is reserved from here on;
    2. web callbacks release every agent reserved or searched for;
    3. the flushes, each within its timeout: routing (agents of calls that ended
       are freed now, not when leases expire), the call log, the web callbacks'
       store, voicemail, recordings (what is left stays spooled for the next start);
    4. every other worker, cancelled together: the event stream, flows watch,
       callbacks, queues, endpoints, admission, the blocklist, retention and the
       workers of 3;
    5. the API stops listening;
    6. the database is closed;
    7. the agent router is closed.
    """
    supervisor = services.supervisor
    stack.push_async_callback(services.parts.agents.close)  # 7
    if services.database is not None:  # 6
        stack.push_async_callback(services.database.close)
    if services.api is not None:  # 5
        await stack.enter_async_context(_listening(services.api))
    workers = await stack.enter_async_context(Workers())  # 4
    stream_task = workers.start(services.stream.run(), name="ari-stream")
    stop_task = workers.start(stop.wait(), name="stop")
    watch = services.config.flows.watch_interval
    if watch > 0:
        workers.start(services.flows.watch(watch))
    workers.start(services.callbacks.run(), name="callbacks")
    workers.start(services.parts.queues.run(), name="queues")
    workers.start(supervisor.watch_endpoints(), name="endpoints")
    workers.start(supervisor.admission.run(), name="admission")
    if services.blocklist is not None:
        workers.start(services.blocklist.run(), name="blocklist")
    if services.sweeper is not None:
        workers.start(services.sweeper.run(), name="retention")
    for service in reversed(_flushed(services)):  # 3 (flushed last: entered first)
        await stack.enter_async_context(lifespan(service, workers))
    if services.web_callbacks is not None:  # 2
        stack.callback(services.web_callbacks.release_all)
    dispatchers = await stack.enter_async_context(Workers())  # 1
    if services.agi is not None:
        dispatchers.adopt(services.agi())
    if services.web_callbacks is not None:
        dispatchers.start(services.web_callbacks.run(), name="web-callbacks")
    return stream_task, stop_task


def _flushed(services: Services) -> list[Service]:
    """The services with something to hand over at the stop, in the order they flush."""
    agents = services.parts.agents
    flushed = [
        Service(
            "routing", agents.run, Flush(agents.flush, HANDBACK_GRACE_S, "routing.flush_failed")
        ),
        Service(
            "call-log",
            services.call_log.run,
            Flush(services.call_log.flush, HANDBACK_GRACE_S, "calllog.flush_failed"),
        ),
    ]
    if services.web_callbacks is not None:  # status changes; new requests stay spooled anyway
        store = services.web_callbacks.store
        flushed.append(
            Service(
                "web-callbacks-store",
                store.run,
                Flush(store.flush, HANDBACK_GRACE_S, "webcallback.flush_failed"),
            )
        )
    if services.voicemail is not None:  # one last pass: what is left stays in the spool
        keeper = services.voicemail
        flushed.append(Service("voicemail", keeper.run, Flush(keeper.flush, VOICEMAIL_FLUSH_S)))
    if services.recorder is not None:  # calls that ended just now: what is left stays spooled
        recorder = services.recorder
        flushed.append(
            Service("recordings", recorder.run, Flush(recorder.flush, VOICEMAIL_FLUSH_S))
        )
    return flushed


@contextlib.asynccontextmanager
async def _listening(api: ApiServer) -> AsyncIterator[None]:
    try:
        await api.start()
    except OSError as exc:  # a port in use: say so and stop before taking any call
        log.error("api.listen_failed", extra={"listen": f"{api.host}:{api.port}",
                                              "error": str(exc)})  # fmt: skip
        raise PortInUse from exc
    try:
        yield
    finally:
        await api.stop()


async def _drain(services: Services, stream_task: asyncio.Task[None]) -> int:
    """The calls at the stop: drained (``stop``); handed back if the stream failed."""
    supervisor = services.supervisor
    if stream_task.done():
        code = _stream_ended(stream_task)
        if code == 1 and not isinstance(stream_task.exception(), ApplicationTakenOver):
            # Deaf to events: hand back every call not yet connected.
            await supervisor.drain(HANDBACK_GRACE_S)
        return code
    log.info("daemon.draining", extra={"calls": supervisor.calls_in_progress})
    left = await supervisor.drain(services.config.daemon.drain_timeout)
    log.info("daemon.drained", extra={"calls_left_in_asterisk": left})
    return 0


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


def _web_callbacks(
    config: Config,
    supervisor: Supervisor,
    database: Database | None,
    metrics: Metrics,
    clock: Callable[[], datetime],
    gate: CallbackGate,
) -> WebCallbacks | None:
    """Web callbacks (``callbacks:``); their open requests are loaded when the dispatcher
    starts. (Each callback they dial names them as the observer of its calls.)"""
    if config.callbacks is None:
        return None
    store = WebCallbackStore(
        Spools.of(config).web_callbacks,
        database,
        on_db_error=metrics.db_error_hook("webcallbacks"),
    )
    return WebCallbacks(
        config.callbacks,
        store,
        clock,
        supervisor,
        gate=gate,
        on_refused=lambda reason: metrics.callback_refused("web", reason),
    )


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
