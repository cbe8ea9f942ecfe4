"""Which agent gets this call: a pure ranking, no I/O.

``rank(needs, customer, candidates, now, waited_s)`` filters and orders the agents
the repository found. The default policy, in order:

1. the customer's **owner agent**, if they can take the call (the route rings them
   alone for ``owner_seconds`` before the others: a timed fallback);
2. agents with every needed skill at or above the minimum proficiency, speaking
   the call's language;
3. **VIP** callers get the most proficient, then the most senior agents first;
   trainees take only new or occasional callers;
4. among equals, the agent **idle longest** first;
5. agents of **other sites** only when none at the call's home site can take it,
   and only sites that are open now;
6. **escalation**: after ``widen_after_s`` of waiting the minimum proficiency
   drops to 1; after ``any_after_s`` any agent speaking the language will do.

The repository reserves the first of the list it can (atomically); ranking does
not need to know about other calls.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum


class Segment(StrEnum):
    VIP = "vip"
    REGULAR = "regular"
    NEW = "new"
    OCCASIONAL = "occasional"


class Level(StrEnum):
    TRAINEE = "trainee"
    REGULAR = "regular"
    SENIOR = "senior"


SENIORITY = {Level.TRAINEE: 0, Level.REGULAR: 1, Level.SENIOR: 2}


@dataclass(frozen=True, slots=True)
class Needs:
    """What a call needs, from the flow (route node) and the caller's choices."""

    skills: tuple[tuple[str, int], ...] = ()  # (skill, minimum proficiency 1-5)
    language: str = ""  # "" : any
    site: str = ""  # the home site ("" : no preference)
    widen_after_s: float = 60.0  # T1: proficiency minimum drops to 1
    any_after_s: float = 120.0  # T2: any agent with the language


@dataclass(frozen=True, slots=True)
class Customer:
    id: int = 0
    name: str = ""
    segment: Segment = Segment.NEW  # an unknown number is a new caller
    language: str = ""
    products: tuple[str, ...] = ()
    owner_agent: str = ""
    notes: str = ""

    @property
    def known(self) -> bool:
        return self.id != 0


UNKNOWN = Customer()


@dataclass(frozen=True, slots=True)
class Candidate:
    """An agent as the repository read them, with the skills that matter here."""

    id: str
    endpoints: tuple[str, ...]
    level: Level = Level.REGULAR
    languages: tuple[str, ...] = ()
    site: str = ""
    site_open: bool = True
    skills: tuple[tuple[str, int], ...] = ()  # (skill, proficiency)
    available: bool = True  # logged in, not paused, below max_calls
    last_call_ended_at: datetime | None = None
    ready_at: datetime | None = None  # not offered before (wrap-up, missed-call penalty)
    proficiency: dict[str, int] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "proficiency", dict(self.skills))


def effective_needs(needs: Needs, waited_s: float) -> Needs:
    """The requirement after escalation (T1: any proficiency; T2: no skills)."""
    if waited_s >= needs.any_after_s:
        return replace(needs, skills=())
    if waited_s >= needs.widen_after_s:
        return replace(needs, skills=tuple((skill, 1) for skill, _ in needs.skills))
    return needs


def qualifies(agent: Candidate, needs: Needs, customer: Customer) -> bool:
    """Does this agent meet the (already escalated) needs of this caller?"""
    if not agent.available or not agent.endpoints:
        return False
    if needs.language and needs.language not in agent.languages:
        return False
    if any(agent.proficiency.get(skill, 0) < least for skill, least in needs.skills):
        return False
    trainee_ok = customer.segment in (Segment.NEW, Segment.OCCASIONAL)
    return agent.level is not Level.TRAINEE or trainee_ok


def rank(
    needs: Needs,
    customer: Customer,
    candidates: Iterable[Candidate],
    now: datetime,
    waited_s: float = 0.0,
) -> tuple[Candidate, ...]:
    """The agents to offer this call to, best first (see the module's rules)."""
    current = effective_needs(needs, waited_s)
    pool = [a for a in candidates if qualifies(a, current, customer)]
    home = [a for a in pool if not current.site or a.site == current.site]
    chosen = home or [a for a in pool if a.site_open]  # (no one at home: the others)
    ordered = sorted(chosen, key=lambda a: _order_key(a, current, customer, now))
    owner = customer.owner_agent
    if owner:
        # The owner first, even from another site, as long as they meet the needs.
        owners = [a for a in pool if a.id == owner]
        ordered = owners + [a for a in ordered if a.id != owner]
    return tuple(ordered)


def _order_key(
    agent: Candidate, needs: Needs, customer: Customer, now: datetime
) -> tuple[float, ...]:
    idle_s = (now - agent.last_call_ended_at).total_seconds() if agent.last_call_ended_at else 1e12
    skill = sum(agent.proficiency.get(name, 0) for name, _ in needs.skills)
    seniority = SENIORITY[agent.level]
    if customer.segment is Segment.VIP:
        return (-skill, -seniority, -idle_s)
    if customer.segment in (Segment.NEW, Segment.OCCASIONAL):
        # Newcomers: trainees and regulars learn on them; seniors stay free for VIPs.
        return (seniority, -idle_s)
    return (-idle_s,)
