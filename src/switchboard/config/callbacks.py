"""Web callbacks (``callbacks:``) and the number policy they share with queue
callbacks (``dial_policy:``), and the keys that moved from one to the other."""

from __future__ import annotations

from . import values
from .model import CallbacksConfig, DialPolicy, RateLimits
from .reading import Section, err, words

CALLBACK_KEYS = {
    "trunk", "company_number", "calendar", "default_skill", "skills",
    "agent_ring_seconds", "customer_ring_seconds", "retry_seconds",
    "max_pending", "max_days_ahead", "rate_limits", "frame_ancestors",
}  # fmt: skip
# Keys that moved, with why: the old key is an error that says where it went.
NUMBER_POLICY = "one number policy for queue and web callbacks; docs/security.md"
CLIENT_ADDRESS = "one setting for every route that needs the client's address"
MOVED_KEYS = {
    "countries": ("dial_policy.countries", NUMBER_POLICY),
    "default_country": ("dial_policy.default_country", NUMBER_POLICY),
    "per_number": ("dial_policy.per_number", NUMBER_POLICY),
    "trusted_proxies": ("api.trusted_proxies", CLIENT_ADDRESS),
}


def _moved(sec: Section) -> None:
    for key, value in sec.items.items():
        if key in MOVED_KEYS:
            where, why = MOVED_KEYS[key]
            raise err(sec.path, value, f"{sec.name}.{key} is now {where} ({why}): move it there")


def dial_policy(sec: Section) -> DialPolicy:
    sec.check_keys({"countries", "default_country", "per_number", "window_seconds", "tracked"})
    return DialPolicy(
        countries=words(sec, "countries", values.region),
        default_country=sec.scalar("default_country", values.region, "")
        if "default_country" in sec.items
        else "",
        per_number=sec.scalar("per_number", values.positive(int), 3),
        window_seconds=sec.scalar("window_seconds", values.positive(float), 3600.0),
        tracked=sec.scalar("tracked", values.positive(int), 10_000),
    )


def callbacks(top: Section) -> CallbacksConfig:
    sec = top.section("callbacks")
    _moved(sec)
    sec.check_keys(CALLBACK_KEYS)
    for needed, why in NEEDED_BY_CALLBACKS.items():
        if needed not in top.items:
            raise err(sec.path, sec.node, f"callbacks: needs a {needed}: section too ({why})")
    skills = words(sec, "skills", values.identifier)
    default_skill = sec.scalar("default_skill", values.identifier)
    if default_skill not in skills:
        what = f"callbacks.default_skill: {default_skill!r} is not in callbacks.skills"
        raise err(sec.path, sec.items["default_skill"], what)
    return CallbacksConfig(
        trunk=sec.scalar("trunk", values.trunk),
        company_number=sec.scalar("company_number", values.dialable),
        default_skill=default_skill,
        skills=skills,
        calendar=sec.scalar("calendar", str, "") if "calendar" in sec.items else "",
        agent_ring_seconds=sec.scalar("agent_ring_seconds", values.positive(int), 20),
        customer_ring_seconds=sec.scalar("customer_ring_seconds", values.positive(int), 30),
        retry_seconds=sec.scalar("retry_seconds", values.positive(float), 60.0),
        max_pending=sec.scalar("max_pending", values.positive(int), 1000),
        max_days_ahead=sec.scalar("max_days_ahead", values.positive(int), 14),
        rate_limits=_rate_limits(
            Section(sec.path, sec.items["rate_limits"], "callbacks.rate_limits")
        )
        if "rate_limits" in sec.items
        else RateLimits(),
        frame_ancestors=words(sec, "frame_ancestors", values.frame_source, required=False)
        or ("*",),
    )


NEEDED_BY_CALLBACKS = {
    "api": "requests arrive through the API",
    "database": "requests are kept in PostgreSQL",
    "dial_policy": "which numbers may be called",
}


def _rate_limits(sec: Section) -> RateLimits:
    _moved(sec)
    sec.check_keys({"per_ip", "window_seconds", "tracked"})
    return RateLimits(
        per_ip=sec.scalar("per_ip", values.positive(int), 10),
        window_seconds=sec.scalar("window_seconds", values.positive(float), 3600.0),
        tracked=sec.scalar("tracked", values.positive(int), 10_000),
    )
