"""Tier 1: calls running through compiled flows, given / when / then, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from switchboard.ari import events as ari
from switchboard.engine import (
    CallState,
    ChannelGone,
    CommandFailed,
    Drain,
    EngineEvent,
    GuardExpired,
    Outcome,
    Phase,
    TimerFired,
    guard_seconds,
    new_call,
    step,
)
from switchboard.engine.commands import (
    AddToBridge,
    Answer,
    CancelTimer,
    Command,
    ContinueInDialplan,
    CreateBridge,
    DestroyBridge,
    FindTargets,
    Hangup,
    Originate,
    Play,
    Record,
    StartRinging,
    StartTimer,
    StopPlayback,
    StopRinging,
)
from switchboard.engine.events import TargetsFound
from switchboard.flows import Flow
from tests.enginekit import menu_wait, timer
from tests.flowkit import SPINE, flow

IVR = flow("""
languages: [en, ru]
fallback_language: en
limits: {max_menu_visits: 6}
entry: {"100": welcome}
nodes:
  welcome: {kind: play, prompt: greeting, next: main}
  main:
    kind: menu
    prompt: main_menu
    choices: {"1": sales, "2": agent, "4": russian}
    timeout: 5
    retries: 2
    invalid_prompt: invalid
    timeout_prompt: no_input
    repeat_key: "*"
    on_fail: bye
  russian: {kind: language, language: ru, next: main}
  sales:
    kind: menu
    prompt: sales_menu
    choices: {"1": tag, "9": {back: true}}
    back_key: "#"
    on_fail: bye
  tag: {kind: set, vars: {skill: sales}, next: agent}
  agent: {kind: route, endpoint: PJSIP/agent101, timeout: 20, on_fail: vm}
  vm: {kind: voicemail, mailbox: "100"}
  bye: {kind: hangup, prompt: goodbye}
""")


@dataclass
class Caller:
    """Plays Asterisk's part for one call and keeps what the engine asked for."""

    flow: Flow
    entry: str = ""  # default: the flow's entry for the number dialed, "100"
    state: CallState = field(init=False)
    commands: list[Command] = field(default_factory=list)

    def __post_init__(self) -> None:
        entry = self.entry or self.flow.entry.get("100") or self.flow.entry["74951234567"]
        self.state = new_call("c1", self.flow, entry)

    # Endpoints that cannot ring now -> why (the daemon's answer to FindTargets);
    # every other target can, in the order written.
    unreachable: dict[str, str] = field(default_factory=dict)
    answer_lookups: bool = True  # False: the test sends TargetsFound itself

    def send(self, event: EngineEvent) -> list[Command]:
        """Step the engine; a FindTargets is answered at once, as the daemon does."""
        self.state, issued, _ = step(self.state, event)
        self.commands += issued
        for cmd in list(issued):
            if isinstance(cmd, FindTargets) and self.answer_lookups:
                issued += self.send(self.targets_found(cmd))
        return issued

    def targets_found(self, find: FindTargets) -> TargetsFound:
        order = tuple(i for i, p in enumerate(find.presences) if p not in self.unreachable)
        skipped = tuple(
            (i, self.unreachable[p]) for i, p in enumerate(find.presences) if p in self.unreachable
        )
        return TargetsFound(find.request_id, order, skipped)

    def dials(self, language: str = "en", at: datetime | None = None) -> list[Command]:
        channel = ari.Channel(id="c1", caller_number="+79161234567", language=language)
        return self.send(ari.StasisStart(channel=channel, args=("inbound", "100"), at=at))

    def hears_prompt_end(self) -> list[Command]:
        assert self.state.playing is not None, "nothing is playing"
        done = ari.Playback(id=self.state.playing.playback_id, state="done")
        return self.send(ari.PlaybackFinished(playback=done))

    def hears_all(self) -> None:
        while self.state.playing is not None:
            self.hears_prompt_end()

    def presses(self, digit: str) -> list[Command]:
        return self.send(ari.ChannelDtmfReceived(channel=ari.Channel(id="c1"), digit=digit))

    def stays_silent(self) -> list[Command]:
        assert timer(self.state), "no menu is waiting"
        return self.send(TimerFired(timer(self.state)))

    def prompts(self) -> list[tuple[str, str]]:
        """(prompt, language) of everything played so far."""
        return [(c.media.split("/")[-1], c.language) for c in self.commands if isinstance(c, Play)]


def in_menu(name: str) -> Caller:
    caller = Caller(IVR)
    caller.dials()
    caller.hears_all()
    if name == "sales":
        caller.presses("1")
        caller.hears_all()
    assert caller.state.node == name
    assert timer(caller.state)
    return caller


# -- the spine flow: greet, ring one extension, end both legs together ---------------------
SPINE_FLOW = flow(SPINE)


def test_caller_is_answered_and_greeted() -> None:
    caller = Caller(SPINE_FLOW)
    assert caller.dials() == [
        Answer("c1"),
        Play("c1", "sound:switchboard/greeting", "c1-pb1", "en"),
    ]
    assert caller.state.phase is Phase.IVR


def test_after_the_greeting_the_agent_is_rung_while_the_caller_hears_ringing() -> None:
    caller = Caller(SPINE_FLOW)
    caller.dials()
    assert caller.hears_prompt_end() == [
        FindTargets("c1-find2", "test.yaml:agent", "ring_all", ("PJSIP/agent100",)),
        StartRinging("c1"),
        CreateBridge("c1-bridge"),
        Originate("c1-leg2", "PJSIP/agent100", 25, "+79161234567", ("leg", "c1")),
    ]
    assert caller.state.phase is Phase.DIALING


def connected(f: Flow = SPINE_FLOW) -> Caller:
    caller = Caller(f)
    caller.dials()
    caller.hears_all()
    caller.send(ari.StasisStart(channel=ari.Channel(id="c1-leg2"), args=("leg", "c1")))
    return caller


def test_agent_answer_bridges_both_legs() -> None:
    caller = connected()
    assert caller.commands[-2:] == [StopRinging("c1"), AddToBridge("c1-bridge", ("c1", "c1-leg2"))]
    assert (caller.state.phase, caller.state.outcome) == (Phase.CONNECTED, Outcome.ANSWERED)
    assert caller.state.answered_by == "PJSIP/agent100"


@pytest.mark.parametrize(
    "hangup",
    [
        ari.StasisEnd(channel=ari.Channel(id="c1")),
        ari.ChannelHangupRequest(channel=ari.Channel(id="c1")),
        ChannelGone("c1"),
    ],
)
def test_caller_hangup_while_connected_hangs_up_the_agent(hangup: EngineEvent) -> None:
    caller = connected()
    assert caller.send(hangup) == [Hangup("c1-leg2"), DestroyBridge("c1-bridge")]
    assert (caller.state.phase, caller.state.outcome) == (Phase.ENDED, Outcome.ANSWERED)


def test_agent_hangup_while_connected_hangs_up_the_caller() -> None:
    caller = connected()
    assert caller.send(ari.StasisEnd(channel=ari.Channel(id="c1-leg2"))) == [
        DestroyBridge("c1-bridge"),
        Hangup("c1"),
    ]


def test_caller_hangup_while_the_agent_rings_cancels_the_leg() -> None:
    caller = Caller(SPINE_FLOW)
    caller.dials()
    caller.hears_all()
    assert caller.send(ari.StasisEnd(channel=ari.Channel(id="c1"))) == [
        Hangup("c1-leg2"),
        DestroyBridge("c1-bridge"),
    ]
    assert caller.state.outcome is Outcome.ABANDONED


@pytest.mark.parametrize(
    ("cause", "result"), [(17, "busy"), (19, "no_answer"), (20, "unreachable"), (127, "failed")]
)
def test_unanswered_route_goes_on_to_its_on_fail_node(cause: int, result: str) -> None:
    caller = Caller(SPINE_FLOW)
    caller.dials()
    caller.hears_all()
    leg = ari.Channel(id="c1-leg2")
    assert caller.send(ari.ChannelHangupRequest(channel=leg)) == []  # the cause comes next
    issued = caller.send(ari.ChannelDestroyed(channel=leg, cause=cause))
    assert issued == [StopRinging("c1"), DestroyBridge("c1-bridge"), ContinueInDialplan("c1")]
    assert caller.state.route_result == result
    assert (caller.state.phase, caller.state.outcome) == (Phase.HANDED_BACK, Outcome.HANDED_BACK)
    assert caller.state.path == ("welcome", "agent", "fallback")


def test_a_refused_originate_is_a_failed_route() -> None:
    caller = Caller(SPINE_FLOW)
    caller.dials()
    originate = caller.hears_prompt_end()[-1]
    caller.send(CommandFailed(originate, 400, "Allocation failed"))
    assert caller.state.phase is Phase.HANDED_BACK


def test_a_prompt_that_cannot_play_is_skipped() -> None:
    caller = Caller(SPINE_FLOW)
    play = caller.dials()[1]
    caller.send(CommandFailed(play, 500, "no such file"))
    assert caller.state.phase is Phase.DIALING


def test_refused_answer_hands_the_caller_back() -> None:
    caller = Caller(SPINE_FLOW)
    answer = caller.dials()[0]
    issued = caller.send(CommandFailed(answer, 500, "boom"))
    assert issued == [StopPlayback("c1-pb1"), ContinueInDialplan("c1")]
    assert (caller.state.phase, caller.state.outcome) == (Phase.HANDED_BACK, Outcome.FAILED)


def test_continue_refused_with_409_is_fine_and_other_refusals_hang_up() -> None:
    caller = Caller(SPINE_FLOW)
    caller.dials()
    handed = caller.send(Drain())[-1]
    assert caller.send(CommandFailed(handed, 409, "not in Stasis")) == []
    assert caller.send(CommandFailed(handed, 500, "boom")) == [Hangup("c1")]


def test_drain_while_ringing_cancels_the_leg_and_hands_back() -> None:
    caller = Caller(SPINE_FLOW)
    caller.dials()
    caller.hears_all()
    assert caller.send(Drain()) == [
        Hangup("c1-leg2"),
        StopRinging("c1"),
        DestroyBridge("c1-bridge"),
        ContinueInDialplan("c1"),
    ]
    assert caller.state.outcome is Outcome.HANDED_BACK_ON_STOP


def test_drain_leaves_a_connected_call_alone() -> None:
    caller = connected()
    before = caller.state
    assert caller.send(Drain()) == []
    assert caller.state == before


def test_guards_protect_every_phase_but_a_conversation() -> None:
    caller = Caller(SPINE_FLOW)
    assert guard_seconds(caller.state) == 120.0
    caller.dials()
    caller.hears_all()
    assert guard_seconds(caller.state) == 25 + 120.0
    assert guard_seconds(connected().state) is None
    issued = caller.send(GuardExpired(Phase.DIALING))
    assert issued[-1] == ContinueInDialplan("c1")
    assert caller.state.outcome is Outcome.FAILED


def test_a_guard_from_an_earlier_phase_is_ignored() -> None:
    caller = Caller(SPINE_FLOW)
    caller.dials()
    caller.hears_all()
    assert caller.send(GuardExpired(Phase.IVR)) == []


# -- menus --------------------------------------------------------------------------------
def test_menu_prompt_then_a_timer_for_the_key() -> None:
    caller = Caller(IVR)
    caller.dials()
    caller.hears_prompt_end()  # greeting
    assert caller.hears_prompt_end() == [StartTimer("c1-t3", 5.0)]
    assert caller.prompts() == [("greeting", "en"), ("main_menu", "en")]


def test_a_valid_key_goes_to_its_node() -> None:
    caller = in_menu("main")
    issued = caller.presses("1")
    assert issued == [
        CancelTimer("c1-t3"),
        Play("c1", "sound:switchboard/sales_menu", "c1-pb4", "en"),
    ]
    assert caller.state.node == "sales"


def test_a_key_during_the_menu_prompt_stops_it_and_counts() -> None:
    caller = Caller(IVR)
    caller.dials()
    caller.hears_prompt_end()
    issued = caller.presses("2")
    assert issued[0] == StopPlayback("c1-pb2")
    assert isinstance(issued[-1], Originate)
    assert caller.state.path == ("welcome", "main", "agent")


def test_an_invalid_key_plays_invalid_and_repeats_the_menu() -> None:
    caller = in_menu("main")
    caller.presses("7")
    caller.hears_all()
    assert caller.prompts()[-2:] == [("invalid", "en"), ("main_menu", "en")]
    assert (caller.state.node, menu_wait(caller.state).attempts) == ("main", 1)
    assert timer(caller.state)


def test_silence_plays_no_input_and_repeats_the_menu() -> None:
    caller = in_menu("main")
    caller.stays_silent()
    caller.hears_all()
    assert caller.prompts()[-2:] == [("no_input", "en"), ("main_menu", "en")]
    assert menu_wait(caller.state).attempts == 1


def test_after_the_last_retry_the_caller_goes_to_on_fail() -> None:
    caller = in_menu("main")
    caller.presses("7")  # attempt 1
    caller.hears_all()
    caller.stays_silent()  # attempt 2
    caller.hears_all()
    caller.presses("8")  # attempt 3 > retries 2
    caller.hears_all()
    assert caller.prompts()[-2:] == [("invalid", "en"), ("goodbye", "en")]
    assert caller.commands[-1] == Hangup("c1")
    assert (caller.state.phase, caller.state.outcome) == (Phase.ENDED, Outcome.HANGUP_BY_FLOW)


def test_keys_during_the_last_sorry_prompt_are_ignored() -> None:
    caller = in_menu("main")
    for _ in range(2):
        caller.stays_silent()
        caller.hears_all()
    caller.stays_silent()  # the third silence: "no input", then on to on_fail
    assert caller.prompts()[-1] == ("no_input", "en")
    assert caller.presses("1") == []


def test_back_returns_to_the_previous_menu() -> None:
    caller = in_menu("sales")
    caller.presses("9")
    assert caller.state.node == "main"
    caller.hears_all()
    caller.presses("1")
    caller.hears_all()
    caller.presses("#")  # the back key does the same
    assert caller.state.node == "main"
    assert caller.state.menu_stack == ("main",)


def test_back_on_the_first_menu_plays_it_again() -> None:
    top = flow("""
    languages: [en]
    entry: {"100": top}
    nodes:
      top: {kind: menu, prompt: main_menu, choices: {"1": bye, "9": {back: true}}, on_fail: bye}
      bye: {kind: hangup}
    """)
    caller = Caller(top)
    caller.dials()
    caller.hears_all()
    caller.presses("9")
    assert caller.prompts() == [("main_menu", "en"), ("main_menu", "en")]
    assert (caller.state.node, menu_wait(caller.state).attempts, caller.state.menu_stack) == (
        "top",
        0,
        ("top",),
    )


def test_a_key_during_the_invalid_prompt_counts_in_the_menu() -> None:
    caller = in_menu("main")
    caller.presses("7")  # "invalid" starts playing
    issued = caller.presses("1")
    assert isinstance(issued[0], StopPlayback)
    assert caller.state.node == "sales"


def test_a_menu_prompt_that_cannot_play_still_waits_for_a_key() -> None:
    caller = Caller(IVR)
    caller.dials()
    play = caller.hears_prompt_end()[-1]  # the main menu prompt
    issued = caller.send(CommandFailed(play, 500, "no such file"))
    assert isinstance(issued[-1], StartTimer)


def test_a_long_chain_of_silent_nodes_is_run_in_one_step() -> None:
    chain = "".join(
        f"  s{i}: {{kind: set, vars: {{n: '{i}'}}, next: s{i + 1}}}\n" for i in range(150)
    )
    text = 'languages: [en]\nentry: {"100": s0}\nnodes:\n' + chain + "  s150: {kind: hangup}\n"
    caller = Caller(flow(text))
    assert caller.dials()[-1] == Hangup("c1")
    assert caller.state.variables == {"n": "149"}


def test_repeat_replays_the_menu_without_using_an_attempt() -> None:
    caller = in_menu("main")
    caller.presses("*")
    caller.hears_all()
    assert caller.prompts()[-2:] == [("main_menu", "en"), ("main_menu", "en")]
    assert menu_wait(caller.state).attempts == 0


def test_variables_are_set_on_the_way_to_the_route() -> None:
    caller = in_menu("sales")
    issued = caller.presses("1")
    assert caller.state.variables == {"skill": "sales"}
    assert isinstance(issued[-1], Originate)
    assert issued[-1].endpoint == "PJSIP/agent101"


def test_a_failed_route_leads_to_voicemail() -> None:
    caller = in_menu("main")
    caller.presses("2")
    caller.send(
        ari.ChannelDestroyed(channel=ari.Channel(id=caller.state.ringing_legs[0]), cause=19)
    )
    assert isinstance(caller.commands[-2], Record)
    assert caller.state.phase is Phase.RECORDING


def test_menu_visits_are_bounded_so_no_caller_circles_forever() -> None:
    caller = in_menu("sales")  # visits: main, sales
    for key in ("9", "1", "9", "1", "9"):  # main, sales, main, sales, then the limit (6)
        caller.presses(key)
        caller.hears_all()
    assert caller.state.menu_visits == 6
    assert caller.state.path[-3:] == ("sales", "main", "bye")  # main gave way to its on_fail
    assert caller.prompts()[-1] == ("goodbye", "en")
    assert caller.state.terminal


# -- DTMF outside menus -------------------------------------------------------------------
TYPEAHEAD = flow("""
languages: [en]
entry: {"100": hello}
nodes:
  hello: {kind: play, prompt: greeting, interruptible: true, next: thanks}
  thanks: {kind: play, prompt: thanks, next: main}
  main:
    kind: menu
    prompt: main_menu
    choices: {"2": bye}
    on_fail: bye
  bye: {kind: hangup}
""")


def test_keys_during_a_non_interruptible_prompt_are_ignored_not_buffered() -> None:
    caller = Caller(TYPEAHEAD, "thanks")
    caller.dials()
    assert caller.presses("2") == []
    caller.hears_all()
    assert caller.state.node == "main"  # the 2 was not kept


def test_a_key_during_an_interruptible_prompt_skips_it_and_is_not_kept_for_later() -> None:
    caller = Caller(TYPEAHEAD)
    caller.dials()
    issued = caller.presses("5")
    assert issued[0] == StopPlayback("c1-pb1")
    assert caller.state.node == "thanks"
    assert caller.state.typeahead == ""  # "thanks" is not a menu: the key is dropped
    caller.hears_all()
    assert caller.prompts()[-1] == ("main_menu", "en")  # the menu plays; no "invalid"
    assert menu_wait(caller.state).attempts == 0


def test_a_key_typed_ahead_counts_in_the_next_menu() -> None:
    flow_with_menu_next = flow("""
    languages: [en]
    entry: {"100": hello}
    nodes:
      hello: {kind: play, prompt: greeting, interruptible: true, next: main}
      main: {kind: menu, prompt: main_menu, choices: {"2": bye}, on_fail: bye}
      bye: {kind: hangup}
    """)
    caller = Caller(flow_with_menu_next)
    caller.dials()
    caller.presses("2")
    assert caller.commands[-1] == Hangup("c1")
    assert caller.state.path == ("hello", "main", "bye")


# -- languages ----------------------------------------------------------------------------
def test_the_caller_can_switch_language_in_the_menu() -> None:
    caller = in_menu("main")
    caller.presses("4")
    caller.hears_all()
    assert caller.prompts()[-1] == ("main_menu", "ru")
    assert caller.state.language == "ru"


def test_a_channel_language_the_flow_speaks_is_kept() -> None:
    caller = Caller(IVR)
    caller.dials(language="ru")
    assert caller.prompts() == [("greeting", "ru")]


def test_a_language_the_flow_does_not_speak_falls_back() -> None:
    russian_first = flow("""
    languages: [en, ru]
    fallback_language: ru
    entry: {"100": hello}
    nodes:
      hello: {kind: play, prompt: greeting, next: bye}
      bye: {kind: hangup}
    """)
    caller = Caller(russian_first)
    caller.dials(language="de")
    assert caller.prompts() == [("greeting", "ru")]  # the fallback, not the first language
    assert russian_first.language_for("en") == "en"


# -- late and stray events ----------------------------------------------------------------
def test_stale_timers_and_playbacks_are_ignored() -> None:
    caller = in_menu("main")
    old_timer = timer(caller.state)
    caller.presses("*")
    assert caller.send(TimerFired(old_timer)) == []
    assert caller.send(ari.PlaybackFinished(playback=ari.Playback(id="c1-pb1"))) == []


def test_an_ended_call_ignores_late_events() -> None:
    caller = Caller(SPINE_FLOW)
    caller.dials()
    caller.send(ari.StasisEnd(channel=ari.Channel(id="c1")))
    ended = caller.state
    for late in (Drain(), TimerFired("c1-t1"), ari.ChannelDestroyed(channel=ari.Channel(id="x"))):
        assert caller.send(late) == []
    assert caller.state == ended


# -- business hours -----------------------------------------------------------------------
HOURS = flow("""
languages: [en]
calendars:
  office:
    zone: Europe/Moscow
    weekly: {mon-fri: "09:00-18:00"}
    holidays: [2026-01-01]
entry: {"100": when}
nodes:
  when: {kind: hours, calendar: office, open: hello, closed: closed, holiday: holiday}
  hello: {kind: play, prompt: greeting, next: bye}
  closed: {kind: voicemail, mailbox: "100"}
  holiday: {kind: hangup, prompt: goodbye}
  bye: {kind: hangup}
""")
MSK = ZoneInfo("Europe/Moscow")


@pytest.mark.parametrize(
    ("at", "branch"),
    [
        (datetime(2026, 11, 25, 10, 0, tzinfo=MSK), "hello"),  # Wednesday morning
        (datetime(2026, 11, 25, 19, 0, tzinfo=MSK), "closed"),  # after hours
        (datetime(2026, 11, 28, 12, 0, tzinfo=MSK), "closed"),  # Saturday
        (datetime(2026, 1, 1, 12, 0, tzinfo=MSK), "holiday"),
        (None, "closed"),  # no time from Asterisk: the closed branch still serves the caller
    ],
)
def test_the_hours_node_branches_on_the_time_the_call_arrived(
    at: datetime | None, branch: str
) -> None:
    caller = Caller(HOURS)
    caller.dials(at=at)
    assert caller.state.path[:2] == ("when", branch)


# -- ring groups: several phones at once ------------------------------------------------------
GROUP = flow("""
languages: [en]
entry: {"100": ring}
nodes:
  ring:
    kind: route
    endpoints: [PJSIP/agent100, PJSIP/agent101, PJSIP/agent102]
    timeout: 20
    on_fail: vm
  vm: {kind: voicemail, mailbox: "100"}
""")


def test_a_ring_group_rings_every_phone_at_once() -> None:
    caller = Caller(GROUP)
    issued = caller.dials()
    assert issued[-3:] == [
        Originate("c1-leg1", "PJSIP/agent100", 20, "+79161234567", ("leg", "c1")),
        Originate("c1-leg2", "PJSIP/agent101", 20, "+79161234567", ("leg", "c1")),
        Originate("c1-leg3", "PJSIP/agent102", 20, "+79161234567", ("leg", "c1")),
    ]
    assert caller.state.ringing_legs == ("c1-leg1", "c1-leg2", "c1-leg3")


def test_the_first_to_answer_gets_the_call_and_the_others_stop_ringing() -> None:
    caller = Caller(GROUP)
    caller.dials()
    issued = caller.send(ari.StasisStart(channel=ari.Channel(id="c1-leg2"), args=("leg", "c1")))
    assert issued == [
        Hangup("c1-leg1"),
        Hangup("c1-leg3"),
        StopRinging("c1"),
        AddToBridge("c1-bridge", ("c1", "c1-leg2")),
    ]
    assert (caller.state.answered_by, caller.state.leg) == ("PJSIP/agent101", "c1-leg2")
    late = ari.StasisStart(channel=ari.Channel(id="c1-leg3"), args=("leg", "c1"))
    assert caller.send(late) == []  # a second answer is ignored (its leg is being hung up)


def test_the_group_fails_over_only_when_every_phone_has_failed() -> None:
    caller = Caller(GROUP)
    caller.dials()
    busy = ari.ChannelDestroyed(channel=ari.Channel(id="c1-leg1"), cause=17)
    assert caller.send(busy) == []
    originate = Originate("c1-leg3", "PJSIP/agent102", 20, "+79161234567", ("leg", "c1"))
    assert caller.send(CommandFailed(originate, 400, "unknown endpoint")) == []
    assert caller.state.ringing_legs == ("c1-leg2",)
    caller.send(ari.ChannelDestroyed(channel=ari.Channel(id="c1-leg2"), cause=19))
    assert caller.commands[-2] == Record("c1", "c1-vm4", 180, 10)
    assert caller.state.route_result == "no_answer"
    assert caller.state.route_log == (
        ("PJSIP/agent100", "busy"),
        ("PJSIP/agent102", "failed"),
        ("PJSIP/agent101", "no_answer"),
    )


def test_a_caller_who_hangs_up_while_the_group_rings_cancels_every_phone() -> None:
    caller = Caller(GROUP)
    caller.dials()
    issued = caller.send(ari.StasisEnd(channel=ari.Channel(id="c1")))
    assert issued == [
        Hangup("c1-leg1"),
        Hangup("c1-leg2"),
        Hangup("c1-leg3"),
        DestroyBridge("c1-bridge"),
    ]
