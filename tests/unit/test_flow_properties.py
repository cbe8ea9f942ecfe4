"""Tier 1 properties: no generated valid flow traps a caller; no input crashes the checker."""

from __future__ import annotations

from datetime import UTC
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from switchboard.ari import events as ari
from switchboard.engine import (
    CallState,
    CommandFailed,
    EngineEvent,
    Phase,
    TimerFired,
    new_call,
    step,
)
from switchboard.engine.commands import (
    AddToBridge,
    CreateBridge,
    DestroyBridge,
    Hangup,
    JoinQueue,
    KeepVoicemail,
    LeaveQueue,
    Originate,
    PlaceCallback,
    Play,
)
from switchboard.engine.events import CallbackDecided, GuardExpired, QueuePosition, TargetsFound
from switchboard.flows import FlowError, compile_flow
from switchboard.flows.model import MENU_KEYS, Menu, Queue, Route
from tests.enginekit import in_line, lookup, recording_name, timer
from tests.flowkit import CATALOG, flow

KEYS = sorted(MENU_KEYS)
ENDS = ("hangup", "voicemail", "handback")
MAX_EVENTS = 3000  # far above what max_menu_visits (20) x attempts (6) x prompts allows


@st.composite
def valid_flows(draw: st.DrawFn) -> dict[str, Any]:
    """Flows the checker accepts by construction: silent edges only go forward."""
    count = draw(st.integers(2, 9))
    names = [f"n{i}" for i in range(count)]
    nodes: dict[str, Any] = {}
    for i, name in enumerate(names):
        ahead = names[i + 1 :]
        kinds = ["hangup", "voicemail", "handback"]
        if ahead:
            kinds += ["play", "menu", "language", "set", "goto", "route", "hours", "queue"]
        kind = draw(st.sampled_from(kinds))
        forward = draw(st.sampled_from(ahead)) if ahead else ""
        nodes[name] = _node(draw, kind, forward, names)
    calendar = {"zone": "Europe/Moscow", "weekly": {"mon-fri": "09:00-18:00"}}
    return {"languages": ["en", "ru"], "calendars": {"office": calendar},
            "entry": {"100": names[0]}, "nodes": nodes}  # fmt: skip


def _node(draw: st.DrawFn, kind: str, forward: str, names: list[str]) -> dict[str, Any]:
    node: dict[str, Any] = {"kind": kind}
    if kind == "play":
        node |= {"prompt": "greeting", "next": forward, "interruptible": draw(st.booleans())}
    elif kind == "menu":
        keys = draw(st.lists(st.sampled_from(KEYS), min_size=1, max_size=6, unique=True))
        choices: dict[str, Any] = {}
        for key in keys[:5]:
            choices[key] = draw(
                st.sampled_from(names) | st.just({"back": True}) | st.just({"repeat": True})
            )
        node |= {"prompt": "main_menu", "choices": choices, "on_fail": forward,
                 "retries": draw(st.integers(0, 5)), "invalid_prompt": "invalid"}  # fmt: skip
    elif kind == "language":
        node |= {"language": draw(st.sampled_from(["en", "ru"])), "next": forward}
    elif kind == "set":
        node |= {"vars": {"skill": "x"}, "next": forward}
    elif kind == "goto":
        node |= {"target": forward}
    elif kind == "route":
        phones = draw(st.lists(st.sampled_from(["PJSIP/a1", "PJSIP/a2", "PJSIP/a3"]), max_size=3,
                               unique=True))  # fmt: skip
        mobiles = draw(st.lists(st.sampled_from(["+79871234567", "84951112233"]), max_size=2,
                                unique=True, min_size=0 if phones else 1))  # fmt: skip
        node |= {"on_fail": forward}
        node |= {"endpoints": phones} if phones else {}
        node |= {"numbers": mobiles, "trunk": "carrier"} if mobiles else {}
        confirm = draw(st.booleans())
        if mobiles and confirm:
            node |= {"confirm_prompt": "thanks"}
        node |= {"strategy": draw(st.sampled_from(["ring_all", "linear", "round_robin"]))}
    elif kind == "queue":
        node |= {"endpoints": ["PJSIP/a1", "PJSIP/a2"], "on_timeout": forward,
                 "strategy": draw(st.sampled_from(["ring_all", "linear"]))}  # fmt: skip
        announce = draw(st.booleans())
        if announce:
            node |= {"announce_every": 30, "position_prompt": "thanks"}
        callback = draw(st.booleans())
        if callback:
            node |= {"callback_key": "5", "callback_prompt": "goodbye",
                     "callback_refused_prompt": "callback_refused",
                     "callback_trunk": "carrier"}  # fmt: skip
    elif kind == "hours":
        branches = st.sampled_from(names[names.index(forward) :])
        node |= {"calendar": "office", "open": draw(branches), "closed": forward,
                 "holiday": draw(branches)}  # fmt: skip
    elif kind == "voicemail":
        node |= {"mailbox": "100", "prompt": draw(st.sampled_from(["goodbye", "thanks"]))}
    return node


def next_events(state: CallState) -> list[EngineEvent]:
    """What Asterisk or the caller can do next in this state."""
    events: list[EngineEvent] = []
    if state.phase is Phase.IVR:
        assert state.playing is not None or timer(state), f"caller in silence at {state.node}"
    if state.playing is not None:
        playback = state.playing.playback_id
        events.append(ari.PlaybackFinished(playback=ari.Playback(id=playback)))
        refused = Play("c1", "sound:switchboard/x", playback)
        events.append(CommandFailed(refused, 500, "prompt could not play"))
    if timer(state):
        events.append(TimerFired(timer(state)))
    if state.phase is Phase.IVR:
        caller = ari.Channel(id="c1")
        events += [ari.ChannelDtmfReceived(channel=caller, digit=k) for k in KEYS]
    if state.phase in (Phase.DIALING, Phase.QUEUED):
        events += _dialing_events(state)
    if state.phase is Phase.QUEUED:
        events += [TimerFired(t) for t in (timer(state), in_line(state).announce_timer) if t]
        if in_line(state).position_ask:
            events.append(QueuePosition(in_line(state).position_ask, 2))
        if ask := in_line(state).callback_ask:  # taken, or refused (the caller stays in line)
            events += [CallbackDecided(ask), CallbackDecided(ask, "country_not_allowed")]
        caller = ari.Channel(id="c1")
        events += [ari.ChannelDtmfReceived(channel=caller, digit=k) for k in ("5", "1")]
    if state.phase is Phase.RECORDING:
        rec = ari.Recording(name=recording_name(state))
        events += [ari.RecordingFinished(recording=rec), ari.RecordingFailed(recording=rec),
                   ari.StasisEnd(channel=ari.Channel(id="c1")),
                   GuardExpired(Phase.RECORDING)]  # fmt: skip
    return events


def _dialing_events(state: CallState) -> list[EngineEvent]:
    """The daemon's answer to FindTargets (any subset can ring, or none); each
    leg ringing out, answering, hearing the confirm prompt, pressing 1 or not."""
    events: list[EngineEvent] = []
    if lookup(state):
        route = state.flow.nodes[state.node].kind
        assert isinstance(route, Route | Queue)
        count = len(route.targets)
        events += [
            TargetsFound(lookup(state), tuple(range(count))),
            TargetsFound(lookup(state), (), tuple((i, "unregistered") for i in range(count))),
            TargetsFound(lookup(state), (count - 1,), tuple((i, "busy") for i in range(count - 1))),
        ]
    for leg in state.legs:
        channel = ari.Channel(id=leg.id)
        events += [
            ari.ChannelDestroyed(channel=channel, cause=19),
            ari.StasisStart(channel=channel),
        ]
        if leg.playback:
            events.append(ari.PlaybackFinished(playback=ari.Playback(id=leg.playback)))
        if leg.timer:
            events.append(TimerFired(leg.timer))
        if leg.answered:
            events.append(ari.ChannelDtmfReceived(channel=channel, digit="1"))
    return events


def stubborn(state: CallState, policy: str) -> EngineEvent | None:
    """The caller who tries hardest to stay in the IVR, by one policy."""
    if state.phase is Phase.QUEUED:
        if in_line(state).position_ask:
            return QueuePosition(in_line(state).position_ask, 1)
        return TimerFired(timer(state))  # waits out the queue: max_wait, then on_timeout
    if state.phase is Phase.DIALING:
        if lookup(state):
            return TargetsFound(lookup(state), (0,))
        leg = state.legs[0]
        if leg.timer:
            return TimerFired(leg.timer)  # an answering machine that never presses 1
        return ari.ChannelDestroyed(channel=ari.Channel(id=leg.id), cause=19)
    if state.phase is Phase.RECORDING:
        return ari.RecordingFinished(recording=ari.Recording(name=recording_name(state)))
    if state.playing is not None:
        return ari.PlaybackFinished(playback=ari.Playback(id=state.playing.playback_id))
    menu = state.flow.nodes[state.node].kind
    if not isinstance(menu, Menu) or not timer(state):
        return None
    caller = ari.Channel(id="c1")
    if policy == "invalid":
        wrong = [k for k in KEYS if menu.action_for(k) is None]
        if wrong:
            return ari.ChannelDtmfReceived(channel=caller, digit=wrong[0])
    if policy == "loop":  # into another menu if it can, else back, else repeat
        for wanted in ("goto", "back", "repeat"):
            for key in KEYS:
                choice = menu.action_for(key)
                if choice is None or choice.action != wanted:
                    continue
                if wanted != "goto" or isinstance(state.flow.nodes[choice.target].kind, Menu):
                    return ari.ChannelDtmfReceived(channel=caller, digit=key)
    return TimerFired(timer(state))


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(valid_flows(), st.sampled_from(["random", "silent", "invalid", "loop"]), st.data())
def test_every_caller_reaches_an_end_in_bounded_steps(
    raw: dict[str, Any], policy: str, data: st.DataObject
) -> None:
    """Whatever the caller does (at random, or stubbornly silent, wrong or circling
    through menus), the call ends or reaches an agent within a bounded number of events."""
    compiled = flow(yaml.safe_dump(raw))
    arrived = data.draw(st.datetimes(timezones=st.just(UTC)) | st.none())
    state, _, _ = step(
        new_call("c1", compiled, compiled.entry["100"]),
        ari.StasisStart(channel=ari.Channel(id="c1"), args=("inbound", "100"), at=arrived),
    )
    for _ in range(MAX_EVENTS):
        if state.terminal or state.phase is Phase.CONNECTED:
            return
        possible = next_events(state)
        assert possible, f"caller stuck with nothing to do at {state.node} ({state.phase})"
        chosen = stubborn(state, policy) if policy != "random" else None
        state, _, _ = step(state, chosen or data.draw(st.sampled_from(possible)))
    raise AssertionError(f"no end after {MAX_EVENTS} events; path {state.path[-20:]}")


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(valid_flows(), st.integers(0, 40), st.data())
def test_a_caller_who_hangs_up_at_any_point_leaves_nothing_behind(
    raw: dict[str, Any], hang_up_after: int, data: st.DataObject
) -> None:
    """Whenever the caller hangs up: every phone rung is hung up (or had already
    ended), every bridge made is destroyed, a message being recorded is kept, and
    the call has an outcome."""
    compiled = flow(yaml.safe_dump(raw))
    state, commands, _ = step(
        new_call("c1", compiled, compiled.entry["100"]),
        ari.StasisStart(channel=ari.Channel(id="c1"), args=("inbound", "100")),
    )
    ended: set[str] = set()  # legs Asterisk told us are gone
    for _ in range(hang_up_after):
        if state.terminal:
            return
        possible = [e for e in next_events(state) if not _is_caller_hangup(e)]
        if not possible:
            break
        event = data.draw(st.sampled_from(possible))
        if isinstance(event, ari.ChannelDestroyed):
            ended.add(event.channel.id)
        state, issued, _ = step(state, event)
        commands += issued
    if state.terminal:
        return
    recording = state.phase is Phase.RECORDING
    state, issued, _ = step(state, ari.StasisEnd(channel=ari.Channel(id="c1")))
    commands += issued
    if recording:
        assert not state.terminal, "hanging up ends the message; the file is still written"
        done = ari.RecordingFinished(recording=ari.Recording(name=recording_name(state)))
        state, issued, _ = step(state, done)
        commands += issued
        assert any(isinstance(c, KeepVoicemail) for c in issued), "the message was lost"
    assert state.terminal
    assert state.outcome is not None
    rung = {c.channel_id for c in commands if isinstance(c, Originate)}
    hung_up = {c.channel_id for c in commands if isinstance(c, Hangup)}
    assert rung <= hung_up | ended, f"left ringing or bridged: {rung - hung_up - ended}"
    joined = [c.queue for c in commands if isinstance(c, JoinQueue)]
    left = [c for c in commands if isinstance(c, LeaveQueue | PlaceCallback)]
    assert len(joined) == len(left), "a place in a queue was left behind"
    made = [c.bridge_id for c in commands if isinstance(c, CreateBridge)]
    destroyed = [c.bridge_id for c in commands if isinstance(c, DestroyBridge)]
    assert set(made) <= set(destroyed)
    assert not [c for c in issued if isinstance(c, AddToBridge)]


def _is_caller_hangup(event: EngineEvent) -> bool:
    return isinstance(event, ari.StasisEnd) and event.channel.id == "c1"


FIELDS = ["kind", "next", "prompt", "prompts", "choices", "on_fail", "target", "timeout",
          "retries", "language", "languages", "entry", "nodes", "vars", "endpoint", "back",
          "mailbox", "interruptible", "1", "*", "a", "b"]  # fmt: skip
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-5, 100)
    | st.sampled_from(
        [*FIELDS, "play", "menu", "hangup", "route", "en", "ru", "greeting", "PJSIP/x", ""]
    )
)
TREES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(FIELDS), inner, max_size=5)
    ),
    max_leaves=25,
)


def check(raw: bytes) -> list[str]:
    """The checker's verdict: [] for a valid flow, else its problems. Anything other
    than FlowError escaping from here fails the test."""
    try:
        compile_flow("fuzz.yaml", raw, CATALOG)
    except FlowError as exc:
        return [str(p) for p in exc.problems]
    return []


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(TREES)
def test_random_yaml_structures_only_ever_raise_flow_error(tree: object) -> None:
    found = check(yaml.safe_dump(tree).encode())
    assert all(p.startswith("fuzz.yaml:") for p in found)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_random_bytes_only_ever_raise_flow_error(raw: bytes) -> None:
    found = check(raw)
    assert all(p.startswith("fuzz.yaml:") for p in found)
