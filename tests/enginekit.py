"""Reading a call's phase record in tests (``CallState.wait``)."""

from __future__ import annotations

from switchboard.engine.state import AgentSearch, CallState, InLine, MenuWait, Recording, Ringing


def menu_wait(state: CallState) -> MenuWait:
    assert isinstance(state.wait, MenuWait), state.wait
    return state.wait


def agent_search(state: CallState) -> AgentSearch:
    assert isinstance(state.wait, AgentSearch), state.wait
    return state.wait


def in_line(state: CallState) -> InLine:
    assert isinstance(state.wait, InLine), state.wait
    return state.wait


def recording_name(state: CallState) -> str:
    """The voicemail being recorded ("" when none)."""
    wait = state.wait
    return wait.name if isinstance(wait, Recording) else ""


def timer(state: CallState) -> str:
    """The phase's own timer armed now (a menu's wait for a key, a limit on a wait)."""
    wait = state.wait
    return wait.timer if isinstance(wait, MenuWait | AgentSearch | InLine) else ""


def lookup(state: CallState) -> str:
    """The request (FindTargets, FindAgent, JoinQueue) the phase waits an answer to."""
    wait = state.wait
    return wait.lookup if isinstance(wait, Ringing | AgentSearch | InLine) else ""
