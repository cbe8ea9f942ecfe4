"""Tier 1: the agent ranking, rule by rule, and a property over call sequences."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from switchboard.routing.rank import (
    UNKNOWN,
    Candidate,
    Customer,
    Level,
    Needs,
    Segment,
    effective_needs,
    qualifies,
    rank,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SALES = Needs(skills=(("sales", 3),), language="ru", site="msk")


def agent(
    name: str,
    *,
    sales: int = 3,
    level: Level = Level.REGULAR,
    languages: tuple[str, ...] = ("ru",),
    site: str = "msk",
    site_open: bool = True,
    idle_min: float | None = 10,
    available: bool = True,
) -> Candidate:
    ended = NOW - timedelta(minutes=idle_min) if idle_min is not None else None
    return Candidate(
        id=name,
        endpoints=(f"PJSIP/{name}",),
        level=level,
        languages=languages,
        site=site,
        site_open=site_open,
        skills=(("sales", sales),) if sales else (),
        available=available,
        last_call_ended_at=ended,
    )


def ids(found: tuple[Candidate, ...]) -> list[str]:
    return [a.id for a in found]


REGULAR = Customer(id=7, name="Anna", segment=Segment.REGULAR, language="ru")
VIP = Customer(id=1, name="Boris", segment=Segment.VIP, language="ru", owner_agent="own")


def test_the_owner_agent_comes_first() -> None:
    team = [agent("a", idle_min=60), agent("own", idle_min=1), agent("b", idle_min=30)]
    assert ids(rank(SALES, VIP, team, NOW))[0] == "own"


def test_an_owner_who_cannot_take_the_call_is_skipped() -> None:
    team = [agent("a"), agent("own", available=False)]
    assert ids(rank(SALES, VIP, team, NOW)) == ["a"]
    untrained = [agent("a"), agent("own", sales=1)]
    assert ids(rank(SALES, VIP, untrained, NOW)) == ["a"]  # the owner must meet the needs


def test_skills_below_the_minimum_and_other_languages_are_left_out() -> None:
    team = [
        agent("ok"),
        agent("weak", sales=2),
        agent("none", sales=0),
        agent("english", languages=("en",)),
        agent("both", languages=("en", "ru")),
    ]
    assert sorted(ids(rank(SALES, REGULAR, team, NOW))) == ["both", "ok"]


def test_vip_callers_get_the_most_proficient_then_the_most_senior() -> None:
    vip = Customer(id=2, segment=Segment.VIP)
    team = [
        agent("regular4", sales=4, idle_min=90),
        agent("senior5", sales=5, level=Level.SENIOR, idle_min=1),
        agent("regular5", sales=5, idle_min=60),
        agent("senior4", sales=4, level=Level.SENIOR, idle_min=5),
    ]
    assert ids(rank(SALES, vip, team, NOW)) == ["senior5", "regular5", "senior4", "regular4"]


def test_trainees_take_only_new_or_occasional_callers_who_get_them_first() -> None:
    team = [agent("senior", level=Level.SENIOR), agent("trainee", level=Level.TRAINEE)]
    assert ids(rank(SALES, REGULAR, team, NOW)) == ["senior"]
    assert ids(rank(SALES, UNKNOWN, team, NOW)) == ["trainee", "senior"]
    occasional = Customer(id=3, segment=Segment.OCCASIONAL)
    assert ids(rank(SALES, occasional, team, NOW))[0] == "trainee"


def test_among_equals_the_longest_idle_first_and_never_called_before_anyone() -> None:
    team = [agent("recent", idle_min=2), agent("never", idle_min=None), agent("long", idle_min=50)]
    assert ids(rank(SALES, REGULAR, team, NOW)) == ["never", "long", "recent"]


def test_other_sites_only_when_home_has_nobody_and_only_if_open() -> None:
    team = [agent("home"), agent("spb", site="spb"), agent("nsk", site="nsk", site_open=False)]
    assert ids(rank(SALES, REGULAR, team, NOW)) == ["home"]
    away = [a for a in team if a.id != "home"]
    assert ids(rank(SALES, REGULAR, away, NOW)) == ["spb"]


def test_escalation_widens_the_skill_then_takes_anyone_with_the_language() -> None:
    team = [agent("weak", sales=1), agent("none", sales=0), agent("english", languages=("en",))]
    assert ids(rank(SALES, REGULAR, team, NOW, waited_s=30)) == []
    assert ids(rank(SALES, REGULAR, team, NOW, waited_s=60)) == ["weak"]  # T1
    assert sorted(ids(rank(SALES, REGULAR, team, NOW, waited_s=120))) == ["none", "weak"]  # T2
    assert effective_needs(SALES, 120).language == "ru"  # the language always counts


# -- property: capacity and requirements over random call sequences -------------------------
SKILLS = ["sales", "support", "billing"]


@st.composite
def teams(draw: st.DrawFn) -> list[tuple[Candidate, int]]:
    count = draw(st.integers(1, 8))
    team = []
    for i in range(count):
        skills = draw(st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 5), max_size=3))
        candidate = Candidate(
            id=f"a{i}",
            endpoints=(f"PJSIP/a{i}",),
            level=draw(st.sampled_from(list(Level))),
            languages=tuple(draw(st.sets(st.sampled_from(["ru", "en", "ro"]), min_size=1))),
            site=draw(st.sampled_from(["msk", "spb"])),
            site_open=draw(st.booleans()),
            skills=tuple(sorted(skills.items())),
            last_call_ended_at=NOW - timedelta(seconds=draw(st.integers(0, 3600))),
        )
        team.append((candidate, draw(st.integers(1, 3))))  # (agent, max_calls)
    return team


calls = st.lists(
    st.tuples(
        st.lists(
            st.tuples(st.sampled_from(SKILLS), st.integers(1, 5)),
            max_size=2,
            unique_by=lambda t: t[0],
        ),
        st.sampled_from(["", "ru", "en", "ro"]),
        st.sampled_from(list(Segment)),
        st.floats(0, 300),
        st.booleans(),  # does this call end before the next arrives?
    ),
    max_size=25,
)


@settings(max_examples=300, deadline=None)
@given(teams(), calls)
def test_no_agent_is_offered_more_calls_than_capacity_and_each_meets_the_needs(
    team: list[tuple[Candidate, int]],
    sequence: list[tuple[list[tuple[str, int]], str, Segment, float, bool]],
) -> None:
    capacity = {a.id: cap for a, cap in team}
    busy: Counter[str] = Counter()
    for skills, language, segment, waited, ends in sequence:
        needs = Needs(skills=tuple(skills), language=language, site="msk")
        customer = Customer(id=1, segment=segment)
        # The repository's view: agents below capacity are available.
        offered_to = [
            Candidate(
                a.id, a.endpoints, a.level, a.languages, a.site, a.site_open, a.skills,
                busy[a.id] < capacity[a.id], a.last_call_ended_at,
            )
            for a, _ in team
        ]  # fmt: skip
        ranked = rank(needs, customer, offered_to, NOW, waited)
        current = effective_needs(needs, waited)
        for chosen in ranked:
            assert qualifies(chosen, current, customer)
            assert busy[chosen.id] < capacity[chosen.id]
        if ranked:  # the repository reserves the first it can: here, the first
            picked = ranked[0].id
            busy[picked] += 1
            assert busy[picked] <= capacity[picked]
            if ends:
                busy[picked] -= 1
