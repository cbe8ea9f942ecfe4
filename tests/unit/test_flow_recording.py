"""Tier 1: the recording setting of a flow: ``record_calls`` at the top (every
connected call), ``record`` on a route or queue (this node's calls), exact errors."""

from __future__ import annotations

import textwrap

import pytest

from switchboard.flows import FlowError, compile_flow
from switchboard.flows.model import Queue, Route, records
from tests.flowkit import CATALOG

FLOW = """\
languages: [en]
record_calls: false
entry:
  "74951234567": sales
nodes:
  sales:
    kind: route
    endpoint: PJSIP/agent101
    record: true
    on_fail: line
  line:
    kind: queue
    endpoint: PJSIP/agent100
    on_timeout: agents
  agents:
    kind: route
    agents: {max_wait: 0}
    on_fail: bye
  bye: {kind: hangup}
"""


def compiled(text: str) -> dict[str, bool]:
    flow, _ = compile_flow("f.yaml", textwrap.dedent(text).encode(), CATALOG)
    return {node_id: records(node.kind) for node_id, node in flow.nodes.items()}


def problems(text: str) -> list[str]:
    with pytest.raises(FlowError) as caught:
        compile_flow("f.yaml", textwrap.dedent(text).encode(), CATALOG)
    return [str(p) for p in caught.value.problems]


def test_a_node_records_when_it_says_so_and_otherwise_follows_the_flow() -> None:
    assert compiled(FLOW) == {"sales": True, "line": False, "agents": False, "bye": False}


def test_record_calls_records_every_route_and_queue_unless_one_opts_out() -> None:
    text = FLOW.replace("record_calls: false", "record_calls: true").replace(
        "record: true", "record: false"
    )
    assert compiled(text) == {"sales": False, "line": True, "agents": True, "bye": False}


def test_nothing_is_recorded_by_default() -> None:
    text = FLOW.replace("record_calls: false\n", "").replace("    record: true\n", "")
    assert not any(compiled(text).values())


def test_the_setting_is_compiled_into_the_frozen_nodes() -> None:
    flow, _ = compile_flow("f.yaml", FLOW.encode(), CATALOG)
    sales, line = flow.nodes["sales"].kind, flow.nodes["line"].kind
    assert isinstance(sales, Route)
    assert sales.record
    assert isinstance(line, Queue)
    assert not line.record


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("record_calls: false", "record_calls: sometimes"),
            "f.yaml:2:15: record_calls must be true or false",
        ),
        (
            ("record_calls: false", "record_calls: [yes]"),
            "f.yaml:2:15: record_calls must be a single value",
        ),
        (
            ("    record: true\n", "    record: maybe\n"),
            "f.yaml:9:13: node 'sales': record must be true or false",
        ),
        (
            ("    on_timeout: agents\n", "    on_timeout: agents\n    record: 1\n"),
            "f.yaml:15:13: node 'line': record must be true or false",
        ),
        (
            ("  bye: {kind: hangup}", "  bye: {kind: hangup, record: true}"),
            "f.yaml:19:23: node 'bye' (hangup): unknown field 'record' (allowed: prompt, prompts)",
        ),
        (
            ("record_calls: false", "record_call: true"),
            "f.yaml:2:1: flow: unknown field 'record_call' (did you mean 'record_calls'?)",
        ),
    ],
)
def test_bad_recording_settings_are_reported_exactly(change: tuple[str, str], message: str) -> None:
    text = FLOW.replace(*change)
    assert text != FLOW
    assert problems(text) == [message]
