"""What each AGI script asks, parsed from its query string: pure, no I/O.

A bad parameter is the dialplan author's fault: ``BadParams`` says which one and
what is expected; the handler puts that text in ``SWITCHBOARD_ERROR``.
"""

from __future__ import annotations

from dataclasses import dataclass

from switchboard.flows.reading import LANGUAGE, SITE, SKILL, TRUNK
from switchboard.numbers import BadNumber, to_e164

from .protocol import AgiRequest

MAX_SKILLS = 8
DIAL_STRING_CHARS = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/_.-+@&"
)


class BadParams(ValueError):
    """The dialplan asked something we cannot do; the message names the parameter."""


@dataclass(frozen=True, slots=True)
class RouteAsk:
    """``route?skill=sales:3&language=ru&site=msk&fallback=+74951112233``."""

    skills: tuple[tuple[str, int], ...]  # (skill, minimum proficiency 1-5)
    language: str  # "": the customer's (CRM), else the channel's
    site: str  # the home site ("": any)
    owner_first: bool  # the customer's owner agent first (owner=no: not preferred)
    fallback: str  # the Dial string when no agent is free ("": none)


@dataclass(frozen=True, slots=True)
class HoursAsk:
    calendar: str


ROUTE_KEYS = frozenset({"skill", "language", "site", "owner", "fallback", "trunk"})


def route_ask(request: AgiRequest, default_trunk: str = "") -> RouteAsk:
    _known(request, ROUTE_KEYS)
    language = request.param("language")
    if language and not LANGUAGE.fullmatch(language):
        raise BadParams(f"language={language!r}: expected a code such as en, ru or pt_BR")
    site = request.param("site")
    if site and not SITE.fullmatch(site):
        raise BadParams(f"site={site!r}: expected letters, digits, _, . or - (at most 64)")
    owner = request.param("owner", "yes").lower()
    if owner not in ("yes", "no"):
        raise BadParams(f"owner={owner!r}: expected yes or no")
    trunk = request.param("trunk") or default_trunk
    return RouteAsk(
        skills=_skills(request.params.get("skill", ())),
        language=language,
        site=site,
        owner_first=owner == "yes",
        fallback=fallback_target(request.param("fallback"), trunk),
    )


def _known(request: AgiRequest, keys: frozenset[str]) -> None:
    unknown = sorted(set(request.params) - keys)
    if unknown:
        raise BadParams(
            f"unknown parameter {unknown[0]!r} for {request.script} "
            f"(known: {', '.join(sorted(keys))})"
        )


def _skills(values: tuple[str, ...]) -> tuple[tuple[str, int], ...]:
    """``skill=sales:3&skill=billing`` (or ``skill=sales:3 billing``): each skill with
    its minimum proficiency (1 if not given)."""
    skills: list[tuple[str, int]] = []
    for value in values:
        for item in value.replace(",", " ").split():
            name, _, least = item.partition(":")
            if not SKILL.fullmatch(name):
                raise BadParams(f"skill={item!r}: a skill is a lower-case name, e.g. sales:3")
            if least and (not least.isdigit() or not 1 <= int(least) <= 5):
                raise BadParams(f"skill={item!r}: the minimum proficiency is 1 to 5")
            if any(name == known for known, _ in skills):
                raise BadParams(f"skill={name!r} is given twice")
            skills.append((name, int(least or 1)))
    if not skills:
        raise BadParams("route needs skill=NAME (e.g. route?skill=sales)")
    if len(skills) > MAX_SKILLS:
        raise BadParams(f"at most {MAX_SKILLS} skills")
    return tuple(skills)


def fallback_target(text: str, trunk: str) -> str:
    """``fallback=+74951112233`` -> ``PJSIP/+74951112233@carrier`` through ``trunk``;
    a Dial string (``fallback=PJSIP/100``) is kept as written."""
    if not text:
        return ""
    if "/" in text:
        if not set(text) <= DIAL_STRING_CHARS:
            raise BadParams(f"fallback={text!r}: not a Dial string such as PJSIP/100")
        return text
    try:
        number = to_e164(text)
    except BadNumber as exc:
        raise BadParams(f"fallback: {exc}") from None
    if not trunk:
        raise BadParams(
            "fallback is a number but no trunk is set (agi.trunk in the config, or trunk=carrier)"
        )
    if not TRUNK.fullmatch(trunk):
        raise BadParams(f"trunk={trunk!r}: expected a PJSIP endpoint name such as carrier")
    technology, _, name = (trunk if trunk.startswith("PJSIP/") else f"PJSIP/{trunk}").partition("/")
    return f"{technology}/{number}@{name}"


def hours_ask(request: AgiRequest) -> HoursAsk:
    _known(request, frozenset({"calendar"}))
    calendar = request.param("calendar")
    if not calendar:
        raise BadParams("hours needs calendar=NAME (a calendar of the flows, e.g. main)")
    return HoursAsk(calendar)


DONE_KEYS = frozenset({"status"})


def done_status(request: AgiRequest) -> str:
    """``done?status=${DIALSTATUS}``: "" when not given (then read from the channel)."""
    _known(request, DONE_KEYS)
    status = request.param("status").upper()
    if status and not status.isalpha():
        raise BadParams(f"status={status!r}: expected a DIALSTATUS such as ANSWER or NOANSWER")
    return status


def release_result(dialstatus: str) -> str:
    """What became of the agent's offer, from Dial's ``DIALSTATUS``: ANSWER -> talked
    (wrap-up), NOANSWER -> missed (the penalty, counted), anything else (the caller
    hung up while it rang, BUSY, CHANUNAVAIL, CONGESTION, nothing dialled) -> cancelled."""
    if dialstatus == "ANSWER":
        return "talked"
    if dialstatus == "NOANSWER":
        return "missed"
    return "cancelled"
