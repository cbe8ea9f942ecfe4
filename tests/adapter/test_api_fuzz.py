"""Tier 2: requests generated from the shipped OpenAPI description (schemathesis)
against the API app with real PostgreSQL: valid requests and invalid ones alike
never get a 5xx, and every answer conforms to the description (status, media
type, body schema)."""

from __future__ import annotations

import asyncio
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import schemathesis
import yaml
from aiohttp import web
from hypothesis import HealthCheck, given, reject, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.result import Ok

from switchboard.api import ApiContext, make_app
from switchboard.api.ops import spec_text
from switchboard.app import route_groups
from switchboard.ari.client import AriClient
from switchboard.daemon import Supervisor
from switchboard.daemon.executor import Executor
from switchboard.daemon.parts import call_handling
from switchboard.db import Database
from switchboard.dialpolicy import CallbackGate
from switchboard.flows.registry import FlowRegistry
from switchboard.live import LiveHub
from switchboard.metrics import Metrics
from switchboard.retention import CallerEraser
from switchboard.retention.spools import Spools
from switchboard.webcallback import WebCallbacks, WebCallbackStore
from switchboard.webcallback.routes import CallbackApi
from tests.apikit import AUTH, api_config
from tests.flowkit import SPINE
from tests.pgkit import DATABASE_URL, fresh_schema
from tests.unit.test_webcallback import CONFIG as CALLBACKS
from tests.unit.test_webcallback import POLICY

REPO = Path(__file__).resolve().parents[2]
SCHEMA = schemathesis.openapi.from_dict(yaml.safe_load(spec_text()))


def operations() -> list[Any]:
    found = []
    for result in SCHEMA.get_all_operations():
        assert isinstance(result, Ok), result.err()  # the spec has an unusable operation
        found.append(result.ok())
    return found


OPERATIONS = operations()
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


class ServedApp:
    """The API app in a loop of its own (schemathesis calls it from this thread)."""

    def __init__(self, directory: Path, schema: str) -> None:
        self.directory, self.schema = directory, schema
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.base = ""

    def __enter__(self) -> ServedApp:
        self.thread.start()
        self.base = self._run(self._start())
        return self

    def __exit__(self, *exc: object) -> None:
        self._run(self._stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    def _run(self, work: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(work, self.loop)
        return future.result(30)

    async def _start(self) -> str:
        (self.directory / "flow.yaml").write_text(SPINE)
        registry = FlowRegistry([self.directory / "flow.yaml"], REPO / "prompts")
        self.session = aiohttp.ClientSession()
        ari = AriClient(self.session, "http://127.0.0.1:1", "u", "p")  # (never called)
        parts = call_handling(Executor(ari, "switchboard"), lambda: registry.current)
        supervisor = Supervisor(ari, "switchboard", parts)
        self.database = Database(DATABASE_URL, self.schema)
        pool = await self.database.pool()
        await pool.execute(
            "INSERT INTO agents (id, name, endpoints) VALUES ('a1', 'A', '{PJSIP/agent100}')"
        )
        context = ApiContext(
            api_config(),
            ari_connected=lambda: True,
            supervisor=supervisor,
            flows=registry,
            database=self.database,
            metrics=Metrics(),
            voicemail_directory=self.directory,
            recording_directory=self.directory,
            live=LiveHub(),
            eraser=CallerEraser(
                self.database,
                Spools(*(self.directory / name for name in ("calls", "cb", "web", "vm", "rec"))),
                self.directory,
                self.directory,
            ),
        )
        store = WebCallbackStore(self.directory / "callbacks", self.database)
        service = WebCallbacks(CALLBACKS, store, lambda: datetime.now(UTC), supervisor)
        # with the web callbacks, as a daemon with callbacks: serves
        app = make_app(context, route_groups(CallbackApi.build(service, CallbackGate(POLICY))))
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        return f"http://127.0.0.1:{self.runner.addresses[0][1]}"

    async def _stop(self) -> None:
        await self.runner.cleanup()
        await self.database.close()
        await self.session.close()


@pytest.fixture(scope="module")
def served() -> Iterator[ServedApp]:
    async def schema_name() -> Any:
        return fresh_schema("fuzz")

    holder = asyncio.run(schema_name())
    name = asyncio.run(holder.__aenter__())
    try:
        with tempfile.TemporaryDirectory() as directory, ServedApp(Path(directory), name) as app:
            yield app
    finally:
        asyncio.run(holder.__aexit__(None, None, None))


def parser_refused(response: Any) -> bool:
    """A request line or header over aiohttp's 8190-byte limit: refused by its HTTP
    parser with a plain-text 400 before any of our code runs."""
    content_type = {k.lower(): v for k, v in response.headers.items()}.get("content-type", [""])
    return bool(
        response.status_code == 400
        and content_type[0].startswith("text/plain")
        and "Got more than 8190 bytes" in response.content.decode(errors="replace")
    )


def takes_input(operation: Any) -> bool:
    raw = operation.definition.raw
    return bool(raw.get("parameters") or raw.get("requestBody"))


CASES = [(op, GenerationMode.POSITIVE) for op in OPERATIONS] + [
    (op, GenerationMode.NEGATIVE) for op in OPERATIONS if takes_input(op)
]


@pytest.mark.parametrize(
    ("operation", "mode"), CASES, ids=[f"{op.label}-{mode.value}" for op, mode in CASES]
)
def test_generated_requests_get_no_5xx_and_answers_conform(
    served: ServedApp, operation: Any, mode: GenerationMode
) -> None:
    @settings(
        max_examples=25,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        response = case.call(base_url=served.base, headers=dict(AUTH))
        if parser_refused(response):
            reject()  # (aiohttp's HTTP parser, before the app: see docs/api.md)
        case.validate_response(response, checks=CHECKS)

    run()
