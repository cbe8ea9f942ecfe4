"""Tier 1: the seed specification in the engine: business hours, a ring group that
skips phones that cannot ring, overflow to a mobile through the trunk (with
press-1 acceptance), and voicemail recorded over ARI. Given / when / then, no I/O."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from switchboard.ari import events as ari
from switchboard.engine import (
    ChannelGone,
    CommandFailed,
    GuardExpired,
    Outcome,
    Phase,
    TimerFired,
    guard_seconds,
)
from switchboard.engine.commands import (
    AddToBridge,
    CancelTimer,
    ContinueInDialplan,
    CreateBridge,
    DestroyBridge,
    FindTargets,
    Hangup,
    KeepVoicemail,
    Originate,
    Play,
    Record,
    StartRinging,
    StartTimer,
    StopPlayback,
    StopRinging,
)
from switchboard.engine.events import TargetsFound
from switchboard.flows import PromptCatalog, compile_flow
from tests.flowkit import flow
from tests.unit.test_engine_flow import Caller

ROOT = Path(__file__).resolve().parents[2]
SEED_FILE = ROOT / "flows" / "examples" / "seed.yaml"
SEED, _ = compile_flow("seed.yaml", SEED_FILE.read_bytes(), PromptCatalog.scan(ROOT / "prompts"))
MSK = ZoneInfo("Europe/Moscow")
WEDNESDAY_NOON = datetime(2026, 11, 25, 12, 0, tzinfo=MSK)
SATURDAY_NOON = datetime(2026, 11, 28, 12, 0, tzinfo=MSK)
WEDNESDAY_NIGHT = datetime(2026, 11, 25, 21, 0, tzinfo=MSK)
HOLIDAY_TUESDAY = datetime(2027, 2, 23, 12, 0, tzinfo=MSK)
OFFICE = ("PJSIP/100", "PJSIP/101", "PJSIP/102")
MOBILE = "PJSIP/+79871234567@carrier"
ARGS = ("leg", "c1")


def seed_call(at: datetime, unreachable: dict[str, str] | None = None) -> Caller:
    caller = Caller(SEED, entry="when", unreachable=unreachable or {})
    caller.dials(language="ru", at=at)
    return caller


def answers(caller: Caller, leg: str) -> list[object]:
    return list(caller.send(ari.StasisStart(channel=ari.Channel(id=leg), args=ARGS)))


def rings_out(caller: Caller, leg: str, cause: int = 19) -> list[object]:
    return list(caller.send(ari.ChannelDestroyed(channel=ari.Channel(id=leg), cause=cause)))


def test_the_seed_flow_file_compiles() -> None:
    assert SEED.entry["74951234570"] == "when"
    mobile = SEED.nodes["mobile"].kind
    assert getattr(mobile, "endpoints", ()) == (MOBILE,)


# -- (a) working hours: the office rings all at once, 101 answers --------------------------
def test_in_hours_the_greeting_then_100_101_102_ring_at_once_for_20_s() -> None:
    caller = seed_call(WEDNESDAY_NOON)
    assert caller.prompts() == [("office_open", "ru")]
    issued = caller.hears_prompt_end()
    assert issued == [
        FindTargets("c1-find3", "seed.yaml:office", "ring_all", OFFICE),
        StartRinging("c1"),
        CreateBridge("c1-bridge"),
        *(
            Originate(f"c1-leg{n}", ep, 20, "+79161234567", ARGS)
            for n, ep in [(2, OFFICE[0]), (3, OFFICE[1]), (4, OFFICE[2])]
        ),
    ]


def test_in_hours_101_answers_and_100_102_stop_ringing() -> None:
    caller = seed_call(WEDNESDAY_NOON)
    caller.hears_all()
    assert answers(caller, "c1-leg3") == [
        Hangup("c1-leg2"),
        Hangup("c1-leg4"),
        StopRinging("c1"),
        AddToBridge("c1-bridge", ("c1", "c1-leg3")),
    ]
    state = caller.state
    assert (state.phase, state.outcome, state.answered_by) == (
        Phase.CONNECTED,
        Outcome.ANSWERED,
        "PJSIP/101",
    )
    assert state.route_log == (
        ("PJSIP/101", "answered"),
        ("PJSIP/100", "answered_elsewhere"),
        ("PJSIP/102", "answered_elsewhere"),
    )


# -- (b) working hours, nobody answers in 20 s: the mobile through the trunk ---------------
def test_in_hours_nobody_answers_so_the_mobile_rings_through_the_trunk() -> None:
    caller = seed_call(WEDNESDAY_NOON)
    caller.hears_all()
    assert rings_out(caller, "c1-leg2") == []
    assert rings_out(caller, "c1-leg3") == []
    issued = rings_out(caller, "c1-leg4")
    assert issued == [
        StopRinging("c1"),
        FindTargets("c1-find4", "seed.yaml:mobile", "ring_all", ("PJSIP/carrier",)),
        StartRinging("c1"),
        Originate("c1-leg5", MOBILE, 30, "+79161234567", ARGS),
    ]  # the bridge made for the office is reused
    assert caller.state.route_log[-1] == ("PJSIP/102", "no_answer")
    answers(caller, "c1-leg5")
    assert caller.state.answered_by == "+79871234567"


# -- (c) working hours, nobody registered: overflow at once ---------------------------------
def test_when_no_office_phone_is_registered_the_mobile_rings_at_once() -> None:
    caller = seed_call(WEDNESDAY_NOON, {ep: "unregistered" for ep in OFFICE})
    issued = caller.hears_prompt_end()
    assert not any(isinstance(c, Originate) and c.endpoint in OFFICE for c in issued)
    assert issued[-1] == Originate("c1-leg2", MOBILE, 30, "+79161234567", ARGS)
    assert caller.state.route_log == tuple((ep, "unregistered") for ep in OFFICE)
    assert caller.state.node == "mobile"


def test_only_the_registered_phones_of_the_group_ring() -> None:
    caller = seed_call(WEDNESDAY_NOON, {"PJSIP/100": "unregistered", "PJSIP/102": "busy"})
    issued = caller.hears_prompt_end()
    assert [c.endpoint for c in issued if isinstance(c, Originate)] == ["PJSIP/101"]


# -- (d) outside hours: greeting, the mobile, then voicemail --------------------------------
@pytest.mark.parametrize("at", [SATURDAY_NOON, WEDNESDAY_NIGHT, HOLIDAY_TUESDAY])
def test_outside_hours_the_closed_greeting_then_the_mobile(at: datetime) -> None:
    caller = seed_call(at)
    assert caller.prompts() == [("office_closed", "ru")]
    issued = caller.hears_prompt_end()
    assert issued[-1] == Originate("c1-leg2", MOBILE, 30, "+79161234567", ARGS)


KEEP = KeepVoicemail("c1-vm4", "100", "c1", "+79161234567", "100", SATURDAY_NOON.isoformat())


def voicemail_call() -> Caller:
    caller = seed_call(SATURDAY_NOON)
    caller.hears_all()
    issued = rings_out(caller, "c1-leg2")
    assert issued[-1] == Play("c1", "sound:switchboard/voicemail_intro", "c1-pb3", "ru")
    record = caller.hears_prompt_end()
    assert record == [Record("c1", "c1-vm4", 180, 10), replace(KEEP, stage="recording", wait_s=240)]
    assert caller.state.phase is Phase.RECORDING
    return caller


def recording(name: str = "c1-vm4") -> ari.Recording:
    return ari.Recording(name=name, format="wav", state="done", target_uri="channel:c1")


def test_the_mobile_does_not_answer_so_the_caller_leaves_a_voicemail() -> None:
    caller = voicemail_call()
    issued = caller.send(ari.RecordingFinished(recording=recording()))
    assert issued == [KEEP, DestroyBridge("c1-bridge"), Hangup("c1")]
    assert (caller.state.phase, caller.state.outcome) == (Phase.ENDED, Outcome.VOICEMAIL)
    assert caller.state.route_log == (("+79871234567", "no_answer"),)


def test_a_trunk_that_refuses_503_overflows_to_voicemail() -> None:
    caller = seed_call(SATURDAY_NOON)
    caller.hears_all()
    rings_out(caller, "c1-leg2", cause=38)  # 503 Service Unavailable: network out of order
    assert caller.state.node == "voicemail"
    assert caller.state.route_result == "unreachable"


def test_a_caller_who_hangs_up_while_recording_still_leaves_the_message() -> None:
    caller = voicemail_call()
    assert caller.send(ari.StasisEnd(channel=ari.Channel(id="c1"))) == []
    assert caller.state.phase is Phase.RECORDING  # Asterisk is still writing the file
    issued = caller.send(ari.RecordingFinished(recording=recording()))
    assert issued == [KEEP, DestroyBridge("c1-bridge")]
    assert caller.state.outcome is Outcome.VOICEMAIL


def test_a_recording_that_never_reports_is_kept_anyway_after_the_guard() -> None:
    caller = voicemail_call()
    assert guard_seconds(caller.state) == 180 + 120.0
    issued = caller.send(GuardExpired(Phase.RECORDING))
    assert issued == [KEEP, DestroyBridge("c1-bridge"), Hangup("c1")]


@pytest.mark.parametrize(
    "failure",
    [
        ari.RecordingFailed(recording=recording()),
        CommandFailed(Record("c1", "c1-vm4", 180, 10), 500, "cannot record"),
    ],
)
def test_when_our_recorder_fails_asterisks_voicemail_takes_the_message(failure: object) -> None:
    caller = voicemail_call()
    issued = caller.send(failure)  # type: ignore[arg-type]
    assert issued == [
        replace(KEEP, stage="cancel"),  # no message of ours to wait for
        DestroyBridge("c1-bridge"),
        ContinueInDialplan("c1", "switchboard-voicemail", "100"),
    ]
    assert caller.state.outcome is Outcome.VOICEMAIL_DIALPLAN


def test_a_recording_of_another_call_is_ignored() -> None:
    caller = voicemail_call()
    assert caller.send(ari.RecordingFinished(recording=recording("c9-vm4"))) == []


def test_a_caller_who_hangs_up_during_the_voicemail_prompt_has_abandoned() -> None:
    caller = seed_call(SATURDAY_NOON)
    caller.hears_all()
    rings_out(caller, "c1-leg2")
    assert caller.send(ChannelGone("c1")) == [DestroyBridge("c1-bridge")]
    assert caller.state.outcome is Outcome.ABANDONED


# -- press 1 to accept: a mobile's own voicemail must not take the call ---------------------
CONFIRM = flow("""
languages: [en]
entry: {"100": mobile}
nodes:
  mobile:
    kind: route
    endpoints: [PJSIP/agent100]
    numbers: ["+79871234567"]
    trunk: carrier
    confirm_prompt: thanks
    confirm_timeout: 8
    on_fail: vm
  vm: {kind: voicemail, mailbox: "100"}
""")
LEG_KEY = "c1-leg2"  # the mobile (the extension is c1-leg1)


def confirming() -> Caller:
    caller = Caller(CONFIRM)
    caller.dials()
    assert answers(caller, LEG_KEY) == [Play(LEG_KEY, "sound:switchboard/thanks", "c1-pb3", "en")]
    assert caller.state.phase is Phase.DIALING  # the caller still hears ringing
    return caller


def leg_heard_prompt(caller: Caller) -> list[object]:
    return list(caller.send(ari.PlaybackFinished(playback=ari.Playback(id="c1-pb3"))))


def test_an_answered_mobile_must_press_1_and_then_the_call_is_bridged() -> None:
    caller = confirming()
    assert leg_heard_prompt(caller) == [StartTimer("c1-t4", 8.0)]
    wrong = ari.ChannelDtmfReceived(channel=ari.Channel(id=LEG_KEY), digit="5")
    assert caller.send(wrong) == []
    right = ari.ChannelDtmfReceived(channel=ari.Channel(id=LEG_KEY), digit="1")
    assert caller.send(right) == [
        CancelTimer("c1-t4"),
        Hangup("c1-leg1"),
        StopRinging("c1"),
        AddToBridge("c1-bridge", ("c1", LEG_KEY)),
    ]
    assert caller.state.answered_by == "+79871234567"


def test_pressing_1_during_the_prompt_accepts_at_once() -> None:
    caller = confirming()
    right = ari.ChannelDtmfReceived(channel=ari.Channel(id=LEG_KEY), digit="1")
    assert caller.send(right)[0] == StopPlayback("c1-pb3")
    assert caller.state.phase is Phase.CONNECTED


def test_no_key_in_time_is_no_answer_and_the_others_keep_ringing() -> None:
    caller = confirming()
    leg_heard_prompt(caller)
    assert caller.send(TimerFired("c1-t4")) == [Hangup(LEG_KEY)]
    assert caller.state.ringing_legs == ("c1-leg1",)
    assert caller.state.route_log == (("+79871234567", "not_accepted"),)
    rings_out(caller, "c1-leg1")
    assert caller.state.node == "vm"


def test_the_mobile_hanging_up_before_accepting_is_not_accepted() -> None:
    caller = confirming()
    leg_heard_prompt(caller)
    assert rings_out(caller, LEG_KEY, cause=16) == [CancelTimer("c1-t4")]
    assert caller.state.route_log == (("+79871234567", "not_accepted"),)


def test_an_extension_answering_needs_no_key() -> None:
    caller = Caller(CONFIRM)
    caller.dials()
    assert answers(caller, "c1-leg1")[-1] == AddToBridge("c1-bridge", ("c1", "c1-leg1"))


def test_the_caller_hanging_up_while_the_mobile_is_asked_tears_everything_down() -> None:
    caller = confirming()
    leg_heard_prompt(caller)
    issued = caller.send(ari.StasisEnd(channel=ari.Channel(id="c1")))
    assert issued == [
        CancelTimer("c1-t4"),
        Hangup("c1-leg1"),
        Hangup(LEG_KEY),
        DestroyBridge("c1-bridge"),
    ]
    assert caller.state.outcome is Outcome.ABANDONED


# -- one at a time: linear (hunt), round robin, longest idle --------------------------------
HUNT = flow("""
languages: [en]
entry: {"100": hunt}
nodes:
  hunt:
    kind: route
    endpoints: [PJSIP/a, PJSIP/b, PJSIP/c]
    strategy: linear
    member_timeout: 10
    on_fail: bye
  bye: {kind: hangup}
""")


def test_linear_rings_one_phone_at_a_time_in_the_order_given() -> None:
    caller = Caller(HUNT, unreachable={"PJSIP/b": "unregistered"})
    issued = caller.dials()
    assert [(c.endpoint, c.timeout) for c in issued if isinstance(c, Originate)] == [
        ("PJSIP/a", 10)
    ]
    assert rings_out(caller, "c1-leg1") == [
        Originate("c1-leg2", "PJSIP/c", 10, "+79161234567", ARGS)
    ]
    assert answers(caller, "c1-leg2")[-1] == AddToBridge("c1-bridge", ("c1", "c1-leg2"))
    assert caller.state.route_log == (
        ("PJSIP/b", "unregistered"),
        ("PJSIP/a", "no_answer"),
        ("PJSIP/c", "answered"),
    )


def test_a_sequence_follows_the_order_the_daemon_chose() -> None:
    """Round robin and longest idle: the daemon knows who is next (its memory of
    past calls); the engine rings in the order it is given."""
    caller = Caller(HUNT, answer_lookups=False)
    find = next(c for c in caller.dials() if isinstance(c, FindTargets))
    assert (find.strategy, find.presences) == ("linear", ("PJSIP/a", "PJSIP/b", "PJSIP/c"))
    issued = caller.send(TargetsFound(find.request_id, order=(2, 0), skipped=((1, "busy"),)))
    assert [c.endpoint for c in issued if isinstance(c, Originate)] == ["PJSIP/c"]
    assert [c.endpoint for c in rings_out(caller, "c1-leg1") if isinstance(c, Originate)] == [
        "PJSIP/a"
    ]
    assert guard_seconds(caller.state) == 3 * 10 + 120.0


def test_an_answer_to_an_old_question_is_ignored() -> None:
    caller = Caller(HUNT, answer_lookups=False)
    caller.dials()
    assert caller.send(TargetsFound("c1-find0", order=(0,))) == []


def test_after_the_last_phone_of_a_sequence_the_route_fails_over() -> None:
    caller = Caller(HUNT)
    caller.dials()
    for leg in ("c1-leg1", "c1-leg2"):
        rings_out(caller, leg, cause=17)
    issued = rings_out(caller, "c1-leg3")
    assert issued == [StopRinging("c1"), DestroyBridge("c1-bridge"), Hangup("c1")]
    assert caller.state.route_result == "no_answer"


def test_a_create_bridge_is_made_once_for_two_routes() -> None:
    caller = seed_call(WEDNESDAY_NOON)
    caller.hears_all()
    for leg in ("c1-leg2", "c1-leg3", "c1-leg4"):
        rings_out(caller, leg)
    assert sum(isinstance(c, CreateBridge) for c in caller.commands) == 1
