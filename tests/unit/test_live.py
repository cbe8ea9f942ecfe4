"""Tier 1: live events. What a call's steps tell the pages (pure), the pages'
in-memory board, and the hub that never lets a slow page hold up a call."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from switchboard.ari import events as ari
from switchboard.engine import Phase
from switchboard.engine.events import AgentFound, EngineEvent, TargetsFound
from switchboard.live import (
    AgentsChanged,
    CallEvent,
    IvrStep,
    Kind,
    LiveEvent,
    LiveHub,
    SubscriptionDropped,
    call_changes,
    call_event,
    ivr_steps,
)
from switchboard.pages.board import CallBoard, screen_message
from switchboard.pages.views import safe_next
from tests.enginekit import lookup
from tests.unit.test_engine_agents import AGENTS, VIP, at_the_route
from tests.unit.test_engine_flow import Caller
from tests.unit.test_engine_queue import QUEUE

AT = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def told(caller: Caller, event: EngineEvent) -> list[CallEvent]:
    """Step the call; what the supervisor would publish for that step."""
    before = caller.state
    caller.send(event)
    return call_changes(before, caller.state, AT)


def brief(events: list[CallEvent]) -> list[tuple[str, str, str]]:
    return [(e.kind.value, e.endpoint, e.agent) for e in events]


def test_the_ivr_path_names_each_node_and_the_key_that_left_each_menu() -> None:
    caller, _ = at_the_route("2")
    assert ivr_steps(AGENTS, caller.state.path) == (
        IvrStep("welcome"),
        IvrStep("main", "2"),
        IvrStep("russian"),
        IvrStep("sales"),
    )


def test_a_menu_left_by_timeout_or_a_node_unknown_to_the_flow_has_no_key() -> None:
    assert ivr_steps(AGENTS, ("main",)) == (IvrStep("main"),)
    assert ivr_steps(AGENTS, ("main", "group", "gone")) == (
        IvrStep("main"),  # (no key of the menu leads to "group": the caller said nothing)
        IvrStep("group"),
        IvrStep("gone"),
    )


def test_offers_withdrawals_and_the_answer_of_a_route_to_agents() -> None:
    caller = Caller(AGENTS)
    assert brief(told(caller, _dial())) == [("call.phase", "", "")]  # (new -> ivr)
    caller.hears_all()
    entering = told(caller, ari.ChannelDtmfReceived(channel=ari.Channel(id="c1"), digit="1"))
    assert brief(entering) == [("call.phase", "", "")]
    assert entering[0].phase is Phase.DIALING
    ask = lookup(caller.state)
    owner = told(caller, AgentFound(ask, "a101", ("PJSIP/101",), owner=True, customer=VIP))
    assert brief(owner) == [("call.offered", "PJSIP/101", "a101")]
    assert owner[0].customer == VIP
    assert [s.node for s in owner[0].path] == ["welcome", "main", "sales"]
    rang_out = told(caller, ari.ChannelDestroyed(channel=ari.Channel(id="c1-leg6"), cause=19))
    assert brief(rang_out) == [("call.withdrawn", "PJSIP/101", "a101")]
    best = AgentFound(lookup(caller.state), "a102", ("PJSIP/102", "PJSIP/112"), customer=VIP)
    assert sorted(brief(told(caller, best))) == [
        ("call.offered", "PJSIP/102", "a102"),
        ("call.offered", "PJSIP/112", "a102"),
    ]
    answered = ari.StasisStart(channel=ari.Channel(id="c1-leg9"), args=("leg", "c1"))
    assert brief(told(caller, answered)) == [
        ("call.withdrawn", "PJSIP/102", "a102"),
        ("call.connected", "PJSIP/112", "a102"),
    ]


def _dial() -> ari.StasisStart:
    channel = ari.Channel(id="c1", caller_number="+79161234567")
    return ari.StasisStart(channel=channel, args=("inbound", "100"))


def _event(
    kind: Kind, phase: Phase, endpoint: str = "", agent: str = "", call: str = "c1"
) -> CallEvent:
    return CallEvent(kind, call, phase, AT, caller="+79161234567", agent=agent, endpoint=endpoint)


def test_the_board_shows_each_agent_the_call_offered_to_them_until_it_goes() -> None:
    board = CallBoard()
    board.apply(_event(Kind.PHASE, Phase.DIALING), now=10.0)
    assert board.screen("a102", ["PJSIP/102"]) is None
    assert (board.waiting(now=14.0).calls, board.waiting(now=14.0).longest_s) == (1, 4.0)
    board.apply(_event(Kind.OFFERED, Phase.DIALING, "PJSIP/102", "a102"), now=11.0)
    shown = board.screen("a102", ["PJSIP/102"])
    assert shown is not None
    assert (shown.kind, screen_message(shown)["state"]) == (Kind.OFFERED, "ringing")
    assert board.waiting(now=14.0).longest_s == 4.0  # still waiting since 10.0
    board.apply(_event(Kind.CONNECTED, Phase.CONNECTED, "PJSIP/102", "a102"), now=12.0)
    shown = board.screen("someone-else", ["PJSIP/102"])  # (found by the phone too)
    assert shown is not None
    assert screen_message(shown)["state"] == "talking"
    assert (board.waiting(now=14.0).calls, board.talking) == (0, 1)
    board.apply(_event(Kind.ENDED, Phase.ENDED), now=20.0)
    assert board.screen("a102", ["PJSIP/102"]) is None
    assert (board.calls, board.by_phone, board.by_agent) == ({}, {}, {})


def test_a_withdrawn_offer_clears_only_that_call_from_the_screen() -> None:
    board = CallBoard()
    board.apply(_event(Kind.OFFERED, Phase.DIALING, "PJSIP/101", "a101", call="c1"), now=0)
    board.apply(_event(Kind.OFFERED, Phase.DIALING, "PJSIP/101", "a101", call="c2"), now=0)
    board.apply(_event(Kind.WITHDRAWN, Phase.DIALING, "PJSIP/101", "a101", call="c1"), now=0)
    shown = board.screen("a101", [])
    assert shown is not None
    assert shown.call_id == "c2"
    board.apply(AgentsChanged(AT, "a101"), now=0)  # (not a call: nothing changes)
    assert board.screen("a101", []) == shown


def test_the_screen_message_keeps_hostile_text_as_plain_data() -> None:
    hostile = "<script>alert(1)</script>"
    caller, _ = at_the_route()
    state = replace(caller.state, customer=replace(VIP, name=hostile))
    message = screen_message(call_event(Kind.OFFERED, state, AT, "PJSIP/102"))
    customer = message["customer"]
    assert isinstance(customer, dict)
    assert customer["name"] == hostile  # escaping is the page's job: textContent, autoescape


async def test_a_subscriber_that_falls_behind_is_dropped_and_others_go_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hub = LiveHub(queue_size=3)
    slow, fast = hub.subscribe(), hub.subscribe()
    for n in range(4):
        hub.publish(AgentsChanged(AT, f"a{n}"))
        assert isinstance(await fast.next(), AgentsChanged)
    assert slow.dropped
    assert hub.subscribers == 1
    with pytest.raises(SubscriptionDropped):
        await slow.next()  # (its page reconnects and starts from a fresh picture)
    assert any(r.msg == "live.subscriber_dropped" for r in caplog.records)


async def test_publish_never_waits_and_a_broken_listener_is_only_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hub = LiveHub()
    seen: list[LiveEvent] = []

    def broken(event: LiveEvent) -> None:
        raise RuntimeError("a bug in a page")

    hub.listen(broken)
    hub.listen(seen.append)
    with caplog.at_level(logging.ERROR):
        hub.publish(AgentsChanged(AT))
    assert seen == [AgentsChanged(AT)]
    assert any(r.msg == "live.listener_failed" for r in caplog.records)
    hub.unlisten(seen.append)
    hub.publish(AgentsChanged(AT))
    assert len(seen) == 1


async def test_closing_the_hub_wakes_a_waiting_reader() -> None:
    hub = LiveHub()
    with hub.subscribe() as feed:
        reader = asyncio.create_task(feed.next())
        await asyncio.sleep(0)
        hub.close()
        with pytest.raises(SubscriptionDropped):
            await reader
    assert hub.subscribers == 0


async def test_a_subscription_gets_only_what_it_wants_and_may_skip_what_is_queued() -> None:
    hub = LiveHub()
    with hub.subscribe(lambda e: isinstance(e, CallEvent)) as feed:
        hub.publish(AgentsChanged(AT))
        hub.publish(_event(Kind.PHASE, Phase.IVR, call="c1"))
        assert (await feed.next()).call_id == "c1"  # type: ignore[union-attr]
        hub.publish(_event(Kind.PHASE, Phase.IVR, call="c2"))
        feed.discard_pending()
        hub.publish(_event(Kind.PHASE, Phase.IVR, call="c3"))
        assert (await feed.next()).call_id == "c3"  # type: ignore[union-attr]
    assert feed.dropped


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/pages/screen/a102", "/pages/screen/a102"),
        ("/pages/wallboard?x=1", "/pages/wallboard?x=1"),
        ("https://evil.example/", "/pages/wallboard"),
        ("//evil.example/x", "/pages/wallboard"),
        ("/\\evil.example", "/pages/wallboard"),
        ("javascript:alert(1)", "/pages/wallboard"),
        ("/ok\r\nSet-Cookie: x=1", "/pages/wallboard"),
        ("", "/pages/wallboard"),
    ],
)
def test_after_login_the_browser_goes_only_to_a_page_of_this_server(
    target: str, expected: str
) -> None:
    assert safe_next(target) == expected


def test_a_queue_offers_its_free_phones_and_the_caller_waits_from_joining_until_answered() -> None:
    caller = Caller(QUEUE, answer_lookups=False)
    joined = told(caller, _dial())
    assert [(e.kind, e.phase) for e in joined] == [(Kind.PHASE, Phase.QUEUED)]
    turn = told(caller, TargetsFound("c1-q1", order=(0, 1), skipped=()))
    assert sorted(brief(turn)) == [
        ("call.offered", "PJSIP/100", ""),
        ("call.offered", "PJSIP/101", ""),
    ]
    answered = told(caller, ari.StasisStart(channel=ari.Channel(id="c1-leg4"), args=("leg", "c1")))
    assert brief(answered) == [
        ("call.withdrawn", "PJSIP/100", ""),
        ("call.connected", "PJSIP/101", ""),
    ]
    board = CallBoard()
    for event in [*joined, *turn]:
        board.apply(event, now=1.0)
    assert board.waiting(now=3.0).calls == 1
    assert board.screen("anyone", ["PJSIP/100"]) is not None  # a phone of the queue rings
    for event in answered:
        board.apply(event, now=4.0)
    assert board.waiting(now=5.0).calls == 0
    assert board.screen("anyone", ["PJSIP/100"]) is None
    shown = board.screen("anyone", ["PJSIP/101"])
    assert shown is not None
    assert shown.kind is Kind.CONNECTED
