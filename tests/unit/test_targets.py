"""Tier 1: the daemon's answer to FindTargets: who can ring, and in what order."""

from __future__ import annotations

from switchboard.ari import events as ari
from switchboard.daemon.targets import TargetBook
from switchboard.engine.commands import FindTargets

PHONES = ("PJSIP/100", "PJSIP/101", "PJSIP/102")


def endpoint(name: str, state: str) -> ari.Endpoint:
    tech, _, resource = name.partition("/")
    return ari.Endpoint(technology=tech, resource=resource, state=state)


def book(**states: str) -> TargetBook:
    targets = TargetBook(clock=iter(range(1000)).__next__)
    targets.load(endpoint(f"PJSIP/{name[1:]}", s) for name, s in states.items())
    return targets


def ask(strategy: str = "ring_all", presences: tuple[str, ...] = PHONES) -> FindTargets:
    return FindTargets("c1-find1", "seed.yaml:office", strategy, presences)


def test_registered_phones_ring_and_unregistered_or_unknown_ones_are_skipped() -> None:
    targets = book(e100="online", e101="offline", e102="unknown")
    found = targets.find(ask(presences=(*PHONES, "PJSIP/999")))
    assert found.order == (0, 2)  # "unknown": no qualify; Asterisk cannot tell, so try it
    assert found.skipped == ((1, "unregistered"), (3, "unknown_endpoint"))


def test_state_changes_from_asterisk_are_followed() -> None:
    targets = book(e100="offline", e101="offline", e102="offline")
    assert targets.find(ask()).order == ()
    targets.update(endpoint("PJSIP/101", "online"))
    assert targets.find(ask()).order == (1,)


def test_before_asterisk_has_answered_nothing_is_skipped() -> None:
    """If the endpoint list could not be read, ringing is better than skipping."""
    assert TargetBook().find(ask(presences=("PJSIP/anything",))).order == (0,)


def test_a_phone_talking_on_one_of_our_calls_is_busy_until_it_ends() -> None:
    targets = book(e100="online", e101="online", e102="online")
    targets.call_started("PJSIP/101")
    assert targets.find(ask()).skipped == ((1, "busy"),)
    targets.call_ended("PJSIP/101")
    assert targets.find(ask()).order == (0, 1, 2)


def test_round_robin_starts_each_call_one_further_and_skips_who_cannot_ring() -> None:
    targets = book(e100="online", e101="online", e102="online")
    orders = [targets.find(ask("round_robin")).order for _ in range(4)]
    assert orders == [(0, 1, 2), (1, 2, 0), (2, 0, 1), (0, 1, 2)]
    targets.update(endpoint("PJSIP/101", "offline"))
    assert targets.find(ask("round_robin")).order == (2, 0)  # its turn, 101, is skipped


def test_round_robin_memory_is_per_route() -> None:
    targets = book(e100="online", e101="online", e102="online")
    targets.find(ask("round_robin"))
    other = FindTargets("c2-find1", "seed.yaml:other", "round_robin", PHONES)
    assert targets.find(other).order == (0, 1, 2)


def test_longest_idle_rings_who_finished_a_call_longest_ago_first() -> None:
    targets = book(e100="online", e101="online", e102="online")
    for phone in ("PJSIP/102", "PJSIP/100"):  # 102 ends at t=0, 100 at t=1
        targets.call_started(phone)
        targets.call_ended(phone)
    assert targets.find(ask("longest_idle")).order == (1, 2, 0)  # 101 never had one


def test_linear_keeps_the_written_order() -> None:
    targets = book(e100="online", e101="online", e102="online")
    assert targets.find(ask("linear", tuple(reversed(PHONES)))).order == (0, 1, 2)
