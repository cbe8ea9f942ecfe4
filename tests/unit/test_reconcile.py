"""Tier 1: reconcile's plan: what became of our calls while the websocket was down."""

from __future__ import annotations

from dataclasses import replace

from switchboard.ari import events as ari
from switchboard.callbacks import Callback
from switchboard.callbacks.dialer import callback_flow
from switchboard.daemon.reconcile import (
    Adopt,
    CallbackLegAnswered,
    CallbackLegLost,
    CheckPlayback,
    DestroyBridge,
    Feed,
    HandBackSuspects,
    HangUp,
    Suspect,
    Tracked,
    catch_up,
    plan,
)
from switchboard.engine import ChannelGone, Phase, adopt_connected, new_call
from switchboard.engine.state import After, Leg, Playing, Ringing
from switchboard.flows.model import Target

APP = "switchboard"
FLOW = callback_flow(
    Callback("cb1", "q", "+15550100", "+15550199", "c0", "", ("PJSIP/100",), "ring_all", 20,
             "PJSIP/trunk")
)  # fmt: skip


def in_app(channel_id: str, *args: str) -> ari.Channel:
    return ari.Channel(id=channel_id, app_name="Stasis", app_data=",".join((APP, *args)))


def test_a_caught_up_call_hears_of_channels_gone_but_not_of_those_in_flight() -> None:
    state = adopt_connected("c1", FLOW, "c1-leg1")
    tracked = Tracked(state, {"c1", "c1-leg1", "c1-leg2"}, {"c1-leg2"})
    actions = catch_up(tracked, {"c1": in_app("c1")})
    assert actions == [Feed("c1", ChannelGone("c1-leg1"))]


def test_a_call_whose_prompt_may_have_ended_has_it_checked_unless_still_asked_for() -> None:
    state = replace(
        new_call("c1", FLOW, "customer"), playing=Playing("c1-pb1", (), False, After.HANGUP)
    )
    assert catch_up(Tracked(state, {"c1"}, ()), {"c1": in_app("c1")}) == [
        CheckPlayback("c1", "c1-pb1")
    ]
    assert catch_up(Tracked(state, {"c1"}, {"c1-pb1"}), {"c1": in_app("c1")}) == []


def test_an_agent_who_answered_unheard_is_fed_as_their_stasis_start() -> None:
    target = Target("PJSIP/100", "PJSIP/100")
    legs = (Leg("c1-leg1", target), Leg("c1-leg2", target))
    state = replace(new_call("c1", FLOW, "customer"), phase=Phase.DIALING, wait=Ringing(legs=legs))
    answered = in_app("c1-leg1", "leg", "c1")
    ringing = ari.Channel(id="c1-leg2", app_name="Dial")
    channels = {"c1": in_app("c1"), "c1-leg1": answered, "c1-leg2": ringing}
    actions = catch_up(Tracked(state, {"c1", "c1-leg1", "c1-leg2"}, ()), channels)
    assert actions == [Feed("c1", ari.StasisStart(channel=answered, args=("leg", "c1")))]
    connected = replace(state, phase=Phase.CONNECTED)  # (the engine knows already)
    assert catch_up(Tracked(connected, {"c1", "c1-leg1", "c1-leg2"}, ()), channels) == []


def test_strays_connected_calls_are_adopted_and_the_rest_cleaned_or_suspected() -> None:
    channels = [
        in_app("a"), in_app("a-leg1", "leg", "a"),  # bridged: adopted
        in_app("b"),  # bridged alone: its agent left
        in_app("c"),  # not bridged: maybe a new call
        in_app("z-leg1", "leg", "z"),  # a leg of no call
        in_app("mine"),  # owned by a running call
        ari.Channel(id="elsewhere", app_name="Dial"),  # not in our app
    ]  # fmt: skip
    bridges = [
        ari.Bridge("a-bridge", channels=("a", "a-leg1")),
        ari.Bridge("b-bridge", channels=("b",)),
        ari.Bridge("old-bridge"),
        ari.Bridge("mine-bridge"),
        ari.Bridge("other"),  # not one of ours
    ]
    strays = plan({"mine", "mine-bridge"}, [], set(), channels, bridges, APP)
    assert strays.unknown == 5
    assert strays.actions == [
        Adopt(channels[0], "a-leg1"),
        HangUp("b", "reconcile.hangup_lone_caller"),
        Suspect("c", channels[3]),
        HandBackSuspects(),
        HangUp("z-leg1", "reconcile.hangup_leg"),
        DestroyBridge("b-bridge"),
        DestroyBridge("old-bridge"),
    ]


def test_callback_legs_lost_answered_ringing_or_being_dialled() -> None:
    answered = in_app("cb-answered", "callback", "cb2")
    ringing = ari.Channel(id="cb-ringing", app_name="Dial")
    legs = ["cb-lost", "cb-answered", "cb-ringing", "cb-dialing"]
    strays = plan(set(), legs, {"cb-dialing"}, [answered, ringing], [], APP)
    assert strays.actions == [
        CallbackLegLost("cb-lost"),
        CallbackLegAnswered(answered),
        HandBackSuspects(),
    ]
    assert strays.unknown == 0  # (the answered leg is now a call of its own)


def test_an_agent_rung_for_a_callback_by_a_dead_process_is_hung_up_not_handed_back() -> None:
    """A callback's agent leg no dialer of this process knows (the daemon that rang it
    was killed): not a caller (no row, not handed to the dialplan): hung up."""
    orphan = in_app("cb-old", "callback", "cb9")
    strays = plan(set(), [], set(), [orphan], [], APP)
    assert strays.actions == [
        HandBackSuspects(),
        HangUp("cb-old", "reconcile.hangup_callback_leg"),
    ]
