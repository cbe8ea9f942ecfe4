"""Tier 1: web callbacks' pure parts: the number a visitor may make us call, the
request's fields, the rate limiter, when a request is due
(opening hours across a weekend and DST changes), and the config section."""

from __future__ import annotations

import tracemalloc
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st

from switchboard.api.clients import address_key
from switchboard.api.context import PUBLIC, SCOPES
from switchboard.config import CallbacksConfig, ConfigError, DialPolicy, load_config
from switchboard.dialpolicy import CallbackGate
from switchboard.hours import Calendar, Hours
from switchboard.ratelimit import RateLimiter, retry_after
from switchboard.webcallback import WebCallbacks, WebCallbackStore, callback_routes
from switchboard.webcallback.model import Status, WebCallback, due_at, next_opening
from switchboard.webcallback.request import Refused, parse_request
from switchboard.webcallback.routes import CallbackApi
from tests.apispec import spec
from tests.unit.test_config_and_cli import GOOD, write

CONFIG = CallbacksConfig(
    trunk="PJSIP/carrier",
    company_number="+74951234567",
    default_skill="sales",
    skills=("sales", "support"),
)
POLICY = DialPolicy(countries=("RU", "KZ"), default_country="RU")
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("written", "e164"),
    [
        ("+79161234567", "+79161234567"),  # a Russian mobile
        ("+7 (916) 123-45-67", "+79161234567"),
        ("8 916 123 45 67", "+79161234567"),  # national format (default country RU)
        ("89161234567", "+79161234567"),
        ("+74951234567", "+74951234567"),  # a Moscow fixed line
        ("+7 727 258 3434", "+77272583434"),  # Almaty, Kazakhstan (listed too)
    ],
)
def test_fixed_and_mobile_numbers_of_listed_countries_are_accepted(written: str, e164: str) -> None:
    assert parse_request({"number": written}, CONFIG, POLICY, NOW).number == e164


@pytest.mark.parametrize(
    ("written", "error_id"),
    [
        ("+78001234567", "number_type_not_allowed"),  # toll-free 8-800: we would pay
        ("+78091234567", "number_type_not_allowed"),  # premium rate 8-809: toll fraud
        ("+447911123456", "country_not_allowed"),  # a UK mobile: not a listed country
        ("+19005551234", "country_not_allowed"),  # US premium rate
        ("+882345678901", "invalid_number"),  # international networks (satellite)
        ("+7916123456", "invalid_number"),  # a digit short
        ("+79161234567x", "invalid_number"),  # letters
        ("+7916123456789012", "invalid_number"),  # too long for E.164
        ("*100#", "invalid_number"),  # a USSD code
        ("", "invalid_number"),
        ("   ", "invalid_number"),
        ("101", "invalid_number"),  # an emergency or service short number
    ],
)
def test_numbers_we_must_not_call_are_refused_with_a_stable_id(written: str, error_id: str) -> None:
    with pytest.raises(Refused) as refused:  # (the dial policy's reasons: test_dialpolicy.py)
        parse_request({"number": written}, CONFIG, POLICY, NOW)
    assert refused.value.error_id == error_id
    assert refused.value.message.startswith("number: ")


def test_without_a_default_country_a_national_number_is_refused() -> None:
    with pytest.raises(Refused, match="country code"):
        parse_request(
            {"number": "8 916 123 45 67"}, CONFIG, replace(POLICY, default_country=""), NOW
        )


def test_a_good_request_is_parsed_and_normalised() -> None:
    body = {
        "number": "8 (916) 123-45-67",
        "name": "  Ivan \t Petrov ",
        "skill": "support",
        "preferred_time": "2026-11-26T10:00:00+03:00",
    }
    request = parse_request(body, CONFIG, POLICY, NOW)
    assert request.number == "+79161234567"
    assert request.name == "Ivan Petrov"
    assert request.skill == "support"
    assert request.preferred_time == datetime(2026, 11, 26, 7, 0, tzinfo=UTC)


def test_defaults_skill_and_as_soon_as_possible() -> None:
    request = parse_request({"number": "+79161234567", "name": None}, CONFIG, POLICY, NOW)
    assert (request.skill, request.preferred_time, request.name) == ("sales", None, "")


@pytest.mark.parametrize(
    ("body", "error_id", "field"),
    [
        ({}, "missing_field", "number"),
        ({"number": "+79161234567", "email": "x@y"}, "unknown_field", "email"),
        ({"number": 79161234567}, "invalid_type", "number"),
        ({"number": ["+79161234567"]}, "invalid_type", "number"),
        ({"number": "+79161234567", "name": 5}, "invalid_type", "name"),
        ({"number": "+79161234567", "name": "x" * 101}, "too_long", "name"),
        ({"number": "+7" * 40}, "too_long", "number"),
        ({"number": "+79161234567", "name": "a\x00b"}, "invalid_name", "name"),
        ({"number": "+79161234567", "skill": "billing"}, "skill_not_allowed", "skill"),
        ({"number": "+79161234567", "skill": True}, "invalid_type", "skill"),
        (
            {"number": "+79161234567", "preferred_time": "tomorrow"},
            "invalid_time",
            "preferred_time",
        ),
        (
            {"number": "+79161234567", "preferred_time": "2026-11-26T10:00:00"},
            "invalid_time",
            "preferred_time",
        ),
        (
            {"number": "+79161234567", "preferred_time": "2026-11-24T10:00:00+00:00"},
            "time_out_of_range",
            "preferred_time",
        ),
        (
            {"number": "+79161234567", "preferred_time": "2027-01-25T10:00:00+00:00"},
            "time_out_of_range",
            "preferred_time",
        ),
    ],
)
def test_bad_requests_are_refused_naming_the_field(
    body: dict[str, object], error_id: str, field: str
) -> None:
    with pytest.raises(Refused) as refused:
        parse_request(body, CONFIG, POLICY, NOW)
    assert (refused.value.error_id, refused.value.field) == (error_id, field)
    assert refused.value.message.startswith(f"{field}: ")


# -- the rate limiter ----------------------------------------------------------------------
class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_key_gets_its_burst_then_waits_for_a_token() -> None:
    clock = Clock()
    limiter = RateLimiter(3, 3600, 100, clock)
    assert [limiter.take("+79161234567") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.take("+79161234567")
    assert wait == pytest.approx(1200.0)  # one token every 20 minutes
    assert retry_after(wait) == "1200"
    assert limiter.take("+79161234568") == 0.0  # another number is not affected
    clock.now += 1199
    assert limiter.take("+79161234567") > 0
    clock.now += 2
    assert limiter.take("+79161234567") == 0.0
    assert limiter.check("+79161234567") > 0  # check takes nothing


def test_refusals_do_not_push_the_wait_further() -> None:
    clock = Clock()
    limiter = RateLimiter(1, 60, 100, clock)
    limiter.take("a")
    first = limiter.take("a")
    for _ in range(100):
        limiter.take("a")
    assert limiter.take("a") == pytest.approx(first)


def test_a_flood_of_new_keys_keeps_memory_bounded() -> None:
    clock = Clock()
    limiter = RateLimiter(3, 3600, 1000, clock)
    tracemalloc.start()
    try:
        for i in range(20_000):
            limiter.take(f"10.{i // 65536}.{i // 256 % 256}.{i % 256}")
        before, _ = tracemalloc.get_traced_memory()
        for i in range(20_000, 120_000):
            limiter.take(f"10.{i // 65536}.{i // 256 % 256}.{i % 256}")
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(limiter) == 1000
    assert after - before < 100_000  # 100,000 more keys, no more memory kept


@settings(max_examples=200, deadline=None)
@given(
    allowed=st.integers(1, 20),
    gaps=st.lists(st.floats(0, 600, allow_nan=False), min_size=1, max_size=200),
)
def test_a_key_never_gets_more_than_its_burst_plus_what_time_gives_back(
    allowed: int, gaps: list[float]
) -> None:
    clock = Clock()
    limiter = RateLimiter(allowed, 3600, 10, clock)
    started, granted = clock.now, 0
    for gap in gaps:
        clock.now += gap
        granted += limiter.take("k") == 0.0
        assert granted <= allowed + (clock.now - started) * allowed / 3600 + 1e-9


def test_retry_after_is_whole_seconds_at_least_one() -> None:
    assert (retry_after(0.01), retry_after(1.0), retry_after(1.2)) == ("1", "1", "2")


def test_ipv6_clients_are_limited_by_their_network() -> None:
    assert address_key("2001:db8:1:2::5") == address_key("2001:db8:1:2:ffff::1")
    assert address_key("2001:db8:1:2::5") != address_key("2001:db8:1:3::5")
    assert address_key("::ffff:1.2.3.4") == "1.2.3.4"
    assert address_key("1.2.3.4") == "1.2.3.4"


# -- when a request is due -------------------------------------------------------------
WORKDAY = (Hours.parse("09:00-18:00"),)
BERLIN = Calendar(
    name="office",
    zone="Europe/Berlin",
    weekly=(WORKDAY,) * 5 + ((), ()),
    holidays=frozenset({date(2026, 12, 25)}),
)
CET = ZoneInfo("Europe/Berlin")


def request(**changes: object) -> WebCallback:
    base = WebCallback("x" * 22, "+79161234567", "", "sales", "", NOW)
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("now", "due"),
    [
        # Wednesday 12:00: open, due now.
        (datetime(2026, 11, 25, 12, 0, tzinfo=CET), datetime(2026, 11, 25, 12, 0, tzinfo=CET)),
        # Friday evening: Monday 09:00.
        (datetime(2026, 11, 27, 19, 0, tzinfo=CET), datetime(2026, 11, 30, 9, 0, tzinfo=CET)),
        # Saturday: Monday 09:00.
        (datetime(2026, 11, 28, 10, 0, tzinfo=CET), datetime(2026, 11, 30, 9, 0, tzinfo=CET)),
        # Friday evening before the autumn DST change (Sunday 25 Oct 2026): Monday 09:00
        # CET is 08:00 UTC, not 07:00.
        (datetime(2026, 10, 23, 19, 0, tzinfo=CET), datetime(2026, 10, 26, 8, 0, tzinfo=UTC)),
        # ... and before the spring change (Sunday 29 Mar 2026): 09:00 CEST is 07:00 UTC.
        (datetime(2026, 3, 27, 19, 0, tzinfo=CET), datetime(2026, 3, 30, 7, 0, tzinfo=UTC)),
        # Christmas Eve evening: the 25th is a holiday, then the 26th is a Saturday.
        (datetime(2026, 12, 24, 18, 30, tzinfo=CET), datetime(2026, 12, 28, 9, 0, tzinfo=CET)),
    ],
)
def test_a_request_outside_hours_is_due_at_the_next_opening(now: datetime, due: datetime) -> None:
    assert due_at(request(requested_at=now), BERLIN, now) == due


def test_a_preferred_time_inside_hours_is_kept_and_outside_moves_to_the_opening() -> None:
    now = datetime(2026, 11, 25, 10, 0, tzinfo=CET)
    inside = datetime(2026, 11, 26, 15, 30, tzinfo=CET)
    assert due_at(request(not_before=inside), BERLIN, now) == inside
    sunday = datetime(2026, 11, 29, 11, 0, tzinfo=CET)
    assert due_at(request(not_before=sunday), BERLIN, now) == datetime(
        2026, 11, 30, 9, 0, tzinfo=CET
    )


def test_a_retry_waits_its_time_and_for_the_opening() -> None:
    now = datetime(2026, 11, 27, 17, 59, tzinfo=CET)  # Friday, a minute before closing
    retry = now + timedelta(seconds=60)
    assert due_at(request(retry_at=retry), BERLIN, now) == datetime(2026, 11, 30, 9, 0, tzinfo=CET)
    assert due_at(request(retry_at=retry), None, now) == retry  # no calendar: any time


def test_a_calendar_that_never_opens_gives_no_time() -> None:
    closed = Calendar(name="closed", zone="UTC", weekly=((),) * 7)
    assert next_opening(closed, NOW) is None
    assert due_at(request(), closed, NOW) is None


def test_the_status_page_shows_no_private_data() -> None:
    shown = request(name="Ivan", status=Status.SCHEDULED, next_attempt_at=NOW).public()
    assert set(shown) == {"id", "status", "attempts", "next_attempt_at", "requested_at"}
    assert shown["next_attempt_at"] == NOW.isoformat()
    assert request(status=Status.DONE, next_attempt_at=NOW).public()["next_attempt_at"] is None


# -- the config section ------------------------------------------------------------------
SECTIONS = """\
database: {url: "postgresql://x@127.0.0.1/x"}
api:
  tokens: [{name: ops, token: 0123456789abcdef0123, scopes: [read]}]
dial_policy: {countries: [ru], default_country: RU, per_number: 2}
"""
CALLBACKS = """\
callbacks:
  trunk: carrier
  company_number: "+74951234567"
  calendar: office
  default_skill: sales
  skills: [sales, support]
  agent_ring_seconds: 15
  rate_limits: {per_ip: 5, window_seconds: 600}
"""


def test_the_callbacks_section_loads(tmp_path: Path) -> None:
    loaded = load_config(write(tmp_path, GOOD + SECTIONS + CALLBACKS))
    config, policy = loaded.callbacks, loaded.dial_policy
    assert config is not None
    assert policy == DialPolicy(countries=("RU",), default_country="RU", per_number=2)
    assert (config.trunk, config.skills) == ("PJSIP/carrier", ("sales", "support"))
    assert (config.agent_ring_seconds, config.customer_ring_seconds) == (15, 30)
    assert (config.rate_limits.per_ip, config.rate_limits.window_seconds) == (5, 600)
    assert config.frame_ancestors == ("*",)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("countries: [ru]", "countries: [ru, XX]", ":10:31: dial_policy.countries: 'XX' is not"),
        ("countries: [ru]", "countries: []", ":10:26: dial_policy.countries: list at least one"),
        ("per_number: 2", "per_number: 0", ":10:65: dial_policy.per_number: must be a positive"),
        ("default_skill: sales", "default_skill: billing", ":15:18: callbacks.default_skill"),
        ("trunk: carrier", "trunk: car rier", ":12:10: callbacks.trunk"),
        ('"+74951234567"', "call-us", ":13:19: callbacks.company_number"),
        ("per_ip: 5", "per_ip: 0", ":18:25: callbacks.rate_limits.per_ip: must be a positive"),
        (
            "per_ip: 5, window_seconds: 600}",
            "per_ip: 5, window_seconds: 600}\n  trusted_proxies: [127.0.0.1]",
            ":19:20: callbacks.trusted_proxies is now api.trusted_proxies",
        ),
        # Keys that moved to the one number policy say where they went.
        (
            "agent_ring_seconds: 15",
            "countries: [RU]",
            ":17:14: callbacks.countries is now dial_policy.countries",
        ),
        (
            "per_ip: 5",
            "per_number: 3, per_ip: 5",
            ":18:29: callbacks.rate_limits.per_number is now dial_policy.per_number",
        ),
        ("calendar: office", "calender: office", "callbacks: unknown key 'calender'"),
    ],
)
def test_callbacks_config_errors_say_where_and_what(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    text = (GOOD + SECTIONS + CALLBACKS).replace(old, new)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("+", r"\+")):
        load_config(write(tmp_path, text))


def test_callbacks_need_the_api_a_database_and_a_dial_policy(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r":8:3: callbacks: needs a api: section"):
        load_config(write(tmp_path, GOOD + CALLBACKS))
    no_policy = SECTIONS.replace(
        "dial_policy: {countries: [ru], default_country: RU, per_number: 2}\n", ""
    )
    with pytest.raises(ConfigError, match=r"callbacks: needs a dial_policy: section too"):
        load_config(write(tmp_path, GOOD + no_policy + CALLBACKS))


def test_the_openapi_fragment_describes_exactly_the_routes() -> None:
    described = {
        (method.upper(), path)
        for path, item in spec()["paths"].items()
        for method in item
        if path.startswith("/callbacks")
    }
    app = web.Application()
    app[PUBLIC], app[SCOPES] = set(), {}
    service = WebCallbacks(CONFIG, WebCallbackStore(Path("/nonexistent"), None), lambda: NOW)
    callback_routes(CallbackApi.build(service, CallbackGate(POLICY)))(app)
    routed = {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.method != "HEAD" and route.resource is not None
    }
    assert routed == described
    assert app[PUBLIC] == {"callbacks.create", "callbacks.form", "callbacks.status"}
