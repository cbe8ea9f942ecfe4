"""Tier 1: the callback dialer: the agent first, then the customer."""

from __future__ import annotations

from switchboard.ari import events as ari
from switchboard.callbacks import Callback
from switchboard.callbacks.dialer import (
    Answered,
    Destroyed,
    Entered,
    Lost,
    Missed,
    Originated,
    Refused,
    Stage,
    attempted,
    customer_call,
    ring_agent,
    step,
)
from switchboard.engine.commands import Originate

CALLBACK = Callback(
    "cb1", "support", "+15550100", "+15550199", "c0", "2026-01-01T00:00:00+00:00",
    ("PJSIP/100",), "ring_all", 20, "PJSIP/trunk", attempts=1,
)  # fmt: skip


class Observer:
    def agent_missed(self, callback: Callback, missed: bool) -> None: ...
    def agent_answered(self, callback: Callback) -> None: ...
    def attempted(self, callback: Callback, answered_by: str, result: str, agent: str) -> None: ...


def test_the_agent_is_rung_first_and_sees_the_customer_number() -> None:
    leg, originate = ring_agent(CALLBACK, "PJSIP/100", "abc123", Observer())
    assert originate == Originate(
        channel_id="cb-cb1-1-abc123",
        endpoint="PJSIP/100",
        timeout=20,
        caller_id="+15550100",
        app_args=("callback", "cb1"),
    )
    assert (leg.channel_id, leg.agent, leg.stage) == ("cb-cb1-1-abc123", "PJSIP/100", Stage.DIALING)


def test_what_each_end_of_the_agent_leg_tells_the_observer() -> None:
    leg, _ = ring_agent(CALLBACK, "PJSIP/100", "x", Observer())
    ringing, told = step(leg, Originated())
    assert ringing is not None
    assert ringing.stage is Stage.RINGING
    assert told is None
    assert step(ringing, Destroyed(19)) == (None, Missed(missed=True, result="no_answer"))
    assert step(ringing, Destroyed(17)) == (None, Missed(missed=True, result="busy"))
    assert step(ringing, Lost()) == (None, Missed(missed=False))
    assert step(leg, Refused("503")) == (None, Missed(missed=False))
    assert step(ringing, Entered()) == (None, Answered())


def test_the_customer_sees_the_company_number_they_called() -> None:
    agent = ari.Channel(id="cb-cb1-1-x", caller_number="100")
    state, start = customer_call(CALLBACK, ari.StasisStart(channel=agent), 120.0)
    assert (state.call_id, state.flow.name, state.entry) == ("cb-cb1-1-x", "callback:support",
                                                             "customer")  # fmt: skip
    assert start.channel.caller_number == "+15550199"
    assert start.args == ("inbound", "+15550199")


def test_an_attempt_is_done_when_the_customer_answered_else_retried_then_failed() -> None:
    done = attempted(CALLBACK, "+15550100", "answered")
    assert (done.status, done.result, done.callback.attempts) == ("done", "answered", 2)
    again = attempted(CALLBACK, "", "no_answer")
    assert (again.status, again.result) == ("pending", "no_answer")
    last = attempted(again.callback, "", "busy")
    assert (last.status, last.result, last.callback.attempts) == ("failed", "busy", 3)
