"""Tier 1: query strings parsed at the edge (paging, filters), and the live views."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from multidict import MultiDict

from switchboard.api import ApiError
from switchboard.api.query import (
    DEFAULT_LIMIT,
    Page,
    boolean,
    decode_cursor,
    encode_cursor,
    next_cursor,
    page,
    params,
)
from switchboard.daemon.snapshot import CallStatus, agents_waiting, live_call, status_of
from switchboard.engine import CallState, Leg, Phase
from switchboard.engine.commands import FindAgent
from switchboard.engine.state import InLine, Ringing
from switchboard.flows.model import Target
from switchboard.metrics import Metrics
from switchboard.routing.rank import Customer, Segment
from tests.flowkit import SPINE, flow


def refused(call: object, *args: object) -> ApiError:
    with pytest.raises(ApiError) as caught:
        call(*args)  # type: ignore[operator]
    assert caught.value.status == 400
    assert caught.value.error_id == "invalid_query"
    return caught.value


def test_paging_defaults_and_limits() -> None:
    assert page({}, 1) == Page(DEFAULT_LIMIT, None)
    assert page({"limit": "1"}, 1).limit == 1
    assert page({"limit": "500"}, 1).limit == 500


@pytest.mark.parametrize("bad", ["0", "501", "-1", "ten", "1.5", "", " 5", "٣"])
def test_a_bad_limit_is_named(bad: str) -> None:
    error = refused(page, {"limit": bad}, 1)
    assert error.detail == {"param": "limit"}
    assert error.message.startswith("limit:")


@given(st.lists(st.text(max_size=20), min_size=1, max_size=2))
def test_a_cursor_gives_back_its_key(key: list[str]) -> None:
    assert decode_cursor(encode_cursor(key)) == tuple(key)


@pytest.mark.parametrize("bad", ["!!!", "bm90IGpzb24", encode_cursor(["a", "b"]), "x" * 1025])
def test_a_cursor_not_made_by_this_list_is_refused(bad: str) -> None:
    assert refused(page, {"cursor": bad}, 1).detail == {"param": "cursor"}


def test_next_cursor_only_when_there_is_more() -> None:
    wanted = Page(2, None)
    assert next_cursor([1, 2], wanted, ("b",)) is None
    assert next_cursor([1, 2, 3], wanted, ("b",)) == encode_cursor(["b"])


def test_unknown_or_repeated_parameters_are_refused() -> None:
    assert params(MultiDict(limit="5"), ("limit",)) == {"limit": "5"}
    assert refused(params, MultiDict(limt="5"), ("limit",)).detail == {"param": "limt"}
    repeated = MultiDict([("limit", "5"), ("limit", "6")])
    assert "more than once" in refused(params, repeated, ("limit",)).message


def test_booleans_are_true_or_false() -> None:
    assert boolean({"heard": "true"}, "heard") is True
    assert boolean({}, "heard") is None
    assert refused(boolean, {"heard": "yes"}, "heard").detail == {"param": "heard"}


SPINE_FLOW = flow(SPINE)
AGENT = Target("PJSIP/agent100")


@pytest.mark.parametrize(
    ("state", "status"),
    [
        (CallState("c", SPINE_FLOW, "e", phase=Phase.IVR), CallStatus.IVR),
        (CallState("c", SPINE_FLOW, "e", phase=Phase.QUEUED), CallStatus.WAITING),
        (CallState("c", SPINE_FLOW, "e", phase=Phase.DIALING), CallStatus.WAITING),
        (
            CallState(
                "c", SPINE_FLOW, "e", phase=Phase.QUEUED, wait=InLine("q", legs=(Leg("l", AGENT),))
            ),
            CallStatus.RINGING,
        ),
        (CallState("c", SPINE_FLOW, "e", phase=Phase.CONNECTED), CallStatus.CONNECTED),
        (CallState("c", SPINE_FLOW, "e", phase=Phase.RECORDING), CallStatus.VOICEMAIL),
        (CallState("c", SPINE_FLOW, "e", phase=Phase.ENDED), CallStatus.ENDING),
    ],
)
def test_a_calls_status_for_people(state: CallState, status: CallStatus) -> None:
    assert status_of(state) is status


def test_a_live_call_names_what_rings_and_the_known_customer_only() -> None:
    at = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    state = CallState(
        "c1",
        SPINE_FLOW,
        "e",
        phase=Phase.DIALING,
        wait=Ringing(
            legs=(Leg("l", AGENT), Leg("m", Target("PJSIP/+7@carrier", "+7", "PJSIP/carrier")))
        ),
        started_at=at,
        customer=Customer(),  # looked up, not found
    )
    call = live_call(state, None)
    assert call.ringing == ("PJSIP/agent100", "+7")
    assert call.customer is None
    assert call.started_at == at
    assert call.flow_version == SPINE_FLOW.version


def test_the_agent_line_keeps_its_order_and_marks_vips() -> None:
    def ask(call: str) -> FindAgent:
        return FindAgent("r", "s", call, (), "", "en", "", f"+{call}", True, (), True, 30, 60)

    now = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    vip = Customer(7, segment=Segment.VIP)
    waiting = agents_waiting([(ask("1"), vip, 12.0), (ask("2"), Customer(), 30.0)], now)
    assert [(w.position, w.call_id, w.vip, w.waited_s) for w in waiting] == [
        (1, "1", True, 12.0),
        (2, "2", False, 30.0),
    ]
    assert waiting[1].since == datetime(2026, 11, 30, 8, 59, 30, tzinfo=UTC)


def test_metrics_are_the_apps_own_and_in_prometheus_text() -> None:
    first, second = Metrics(), Metrics()  # no global registry: two never collide
    first.call_ended("answered")
    first.call_answered(4.0)
    first.db_error("calllog")
    first.read_at_scrape(calls_in_progress=lambda: 3, ari_reconnects=lambda: 2)
    text = first.exposition().decode()
    assert 'switchboard_calls_total{outcome="answered"} 1.0' in text
    assert 'switchboard_calls_total{outcome="abandoned"} 0.0' in text
    assert 'switchboard_call_wait_seconds_bucket{le="5.0"} 1.0' in text
    assert 'switchboard_db_errors_total{component="calllog"} 1.0' in text
    assert "switchboard_calls_in_progress 3.0" in text
    assert "switchboard_ari_reconnects_total 2.0" in text
    assert 'switchboard_calls_total{outcome="answered"} 0.0' in second.exposition().decode()
