"""Routes to agents (``SEEKING_AGENT``): the router picks an agent for the caller,
their phones ring; unanswered, the next is asked; nobody within max_wait: on_fail."""

from __future__ import annotations

from dataclasses import replace

from switchboard.flows import model as flow_model

from ..commands import (
    CancelTimer,
    Command,
    CreateBridge,
    FindAgent,
    ReportAgent,
    StartRinging,
    StartTimer,
    StopAgentSearch,
    StopRinging,
)
from ..events import AgentFound, EngineEvent
from ..state import AgentSearch, CallState, Phase, Result
from . import common, ring


def seek(state: CallState, agents: flow_model.Agents, cmds: list[Command]) -> Result:
    """Ringback for the caller, a limit on the wait, and the first ask."""
    cmds.append(StartRinging(state.caller))
    if not state.bridge_created:
        cmds.append(CreateBridge(state.bridge_id))
    limit = ""
    if agents.max_wait:
        state, limit = state.next_id("t")
        cmds.append(StartTimer(limit, agents.max_wait))
    search = f"{state.call_id}-agents{len(state.path)}"  # unique: the path grows
    state = replace(
        state,
        phase=Phase.SEEKING_AGENT,
        bridge_created=True,
        wait=AgentSearch(search=search, timer=limit),
    )
    return _ask(state, _search(state), agents, cmds)


def _route(state: CallState) -> flow_model.AgentRoute:
    route = state.flow.nodes[state.node].kind
    assert isinstance(route, flow_model.AgentRoute)
    return route


def _search(state: CallState) -> AgentSearch:
    wait = state.wait
    assert isinstance(wait, AgentSearch)
    return wait


def _ask(
    state: CallState, wait: AgentSearch, agents: flow_model.Agents, cmds: list[Command]
) -> Result:
    """Who takes this call? (AgentFound comes back: now, or when someone frees up)"""
    state, request = state.next_id("ask")
    cmds.append(
        FindAgent(
            request_id=request,
            search_id=wait.search,
            call_id=state.call_id,
            skills=agents.skills,
            language=agents.language or (state.language if state.language_chosen else ""),
            call_language=state.language,
            site=agents.site,
            caller=state.caller_number,
            owner_first=agents.owner_seconds > 0,
            exclude=wait.agents_tried,
            wait=agents.max_wait > 0 and not wait.gave_up,
            widen_after=agents.widen_after,
            any_after=agents.any_after,
        )
    )
    return replace(state, wait=replace(wait, lookup=request)), cmds


def agent_found(state: CallState, event: EngineEvent) -> Result:
    """The router's answer: ring the agent it reserved; or wait on; or give up."""
    assert isinstance(event, AgentFound)
    agents = _route(state).agents
    if state.customer is None and event.customer is not None:
        state = replace(state, customer=event.customer)
    if event.error:
        return _no_agent(state, "routing_unavailable", [])
    wait = _search(state)
    if not event.agent or not event.endpoints:
        cmds: list[Command] = []
        if event.agent:  # nothing to ring: free them and ask again
            cmds.append(ReportAgent(state.call_id, event.agent, "cancelled"))
            tried = (*wait.agents_tried, event.agent)
            return _ask(state, replace(wait, agents_tried=tried), agents, cmds)
        if agents.max_wait and not wait.gave_up:
            return state, []  # the router keeps looking: the caller waits, hearing ringing
        return _no_agent(state, "no_agent", cmds)
    wait = replace(
        wait,
        lookup="",
        agent=event.agent,
        agent_is_owner=event.owner,
        agents_tried=(*wait.agents_tried, event.agent),
    )
    seconds = agents.owner_seconds if event.owner else agents.ring_seconds
    phones = [flow_model.Target(endpoint) for endpoint in event.endpoints]  # ring at once
    return ring.ring_targets(replace(state, wait=wait), phones, seconds, [])


def rang_out(state: CallState, wait: AgentSearch, result: str, cmds: list[Command]) -> Result:
    """The agent's phones all ended unanswered: the agent is freed (a missed call, unless
    it was the owner's short ring or the phone could not ring), and the next one asked."""
    missed = result in ring.MISSED_RESULTS and not wait.agent_is_owner
    cmds.append(ReportAgent(state.call_id, wait.agent, "missed" if missed else "cancelled"))
    wait = replace(wait, agent="", agent_is_owner=False)
    state = replace(state, wait=wait)
    if wait.gave_up:
        return _no_agent(state, result, cmds)
    return _ask(state, wait, _route(state).agents, cmds)


def wait_over(state: CallState, event: EngineEvent) -> Result:
    """Waited max_wait: an agent ringing now is the last try; with none, on_fail."""
    wait = replace(_search(state), timer="")
    if wait.legs:
        return replace(state, wait=replace(wait, gave_up=True)), []
    return _no_agent(replace(state, wait=wait), "no_agent", [])


def _no_agent(state: CallState, why: str, cmds: list[Command]) -> Result:
    """Nobody takes the call here: on to the route's on_fail."""
    wait = _search(state)
    if wait.timer:
        cmds.append(CancelTimer(wait.timer))
    if wait.lookup:
        cmds.append(StopAgentSearch(state.call_id, wait.search))
    cmds.append(StopRinging(state.caller))
    route = _route(state)
    state = replace(
        state,
        phase=Phase.IVR,
        wait=None,
        route_result=why,
        route_log=(*state.route_log, ("agents", why)),
    )
    return common.enter(state, route.on_fail, cmds)


def stale_agent(state: CallState, event: EngineEvent) -> Result:
    """An agent reserved for an ask this call no longer waits for: free them."""
    assert isinstance(event, AgentFound)
    return state, [ReportAgent(state.call_id, event.agent, "cancelled")]
