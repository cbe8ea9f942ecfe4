"""Tier 2, real PostgreSQL: the call log and statistics over HTTP (the calls of
tests/adapter/test_stats.py, logged through the real CallLog)."""

from __future__ import annotations

import base64

import pytest
from aiohttp import web

from switchboard.api import ApiContext, make_app
from switchboard.app import route_groups
from switchboard.db import Database
from tests.adapter.test_stats import database  # noqa: F401 - the fixture
from tests.apikit import AUTH, api_client, api_config
from tests.apispec import check_response

DAY = {"from": "2026-11-25", "to": "2026-11-26", "tz": "Europe/Moscow"}
# A cursor of the right shape whose call id PostgreSQL could not even compare.
NUL_CURSOR = base64.urlsafe_b64encode(b"2026-11-25T10:00:00+00:00|c\x001").decode().rstrip("=")


def app_with(db: Database | None) -> web.Application:
    return make_app(ApiContext(api_config(), database=db), route_groups())


async def test_the_call_log_pages_newest_first_with_a_cursor(database: Database) -> None:  # noqa: F811
    async with api_client(app_with(database)) as client:
        seen: list[str] = []
        query = {**DAY, "limit": "4"}
        while True:
            response = await client.get("/calls", params=query, headers=AUTH)
            assert response.status == 200
            page = await response.json()
            check_response("GET", "/calls", 200, page)
            seen += [c["id"] for c in page["calls"]]
            if page["next_cursor"] is None:
                break
            query["cursor"] = page["next_cursor"]
    assert seen == ["c6", "c9", "c5", "c4", "c3", "c2", "c1"]  # c7, c8: other days


async def test_a_call_comes_with_its_legs_and_times(database: Database) -> None:  # noqa: F811
    async with api_client(app_with(database)) as client:
        response = await client.get("/calls", params={**DAY, "limit": "500"}, headers=AUTH)
        calls = {c["id"]: c for c in (await response.json())["calls"]}
    c1 = calls["c1"]
    assert (c1["category"], c1["agent"], c1["queue"]) == ("answered", "a101", "sales")
    assert c1["started_at"] == "2026-11-25T06:00:00+00:00"
    assert [(leg["target"], leg["result"], leg["ring_s"]) for leg in c1["legs"]] == [
        ("PJSIP/100", "no_answer", 10.0),
        ("PJSIP/101", "answered", 10.0),
    ]


async def test_stats_are_the_commands_figures(database: Database) -> None:  # noqa: F811
    async with api_client(app_with(database)) as client:
        response = await client.get("/stats", params=DAY, headers=AUTH)
        report = await response.json()
    check_response("GET", "/stats", 200, report)
    main = next(f for f in report["flows"] if f["flow"] == "main.yaml")
    assert (main["offered"], main["answered"], main["answered_within"]) == (5, 3, 2)
    assert main["service_level"] == 0.4
    assert len(report["hours"]) == 24
    assert report["period"]["zone"] == "Europe/Moscow"


@pytest.mark.parametrize(
    ("params", "names"),
    [
        ({"from": "yesterday"}, "from: 'yesterday' is not a date"),
        ({**DAY, "tz": "Mars/Olympus"}, "tz: 'Mars/Olympus' is not a time zone"),
        ({**DAY, "to": "2026-11-24"}, "to: 2026-11-24 must be after from"),
        ({**DAY, "service_level": "-3"}, "service_level: '-3' is not a number"),
        ({**DAY, "limit": "0"}, "limit: expected a whole number from 1 to 500"),
        ({**DAY, "limit": "ten"}, "limit: expected a whole number from 1 to 500"),
        ({**DAY, "cursor": "!!not-ours"}, "cursor: not a cursor this list gave"),
        ({**DAY, "colour": "blue"}, "colour: unknown parameter"),
        ({"from": "9999-12-31"}, "to: '' is not a date"),  # (no day after it)
        ({**DAY, "cursor": NUL_CURSOR}, "cursor: not a cursor this list gave"),  # not a 503
    ],
)
async def test_bad_query_parameters_are_400_naming_them(
    database: Database,  # noqa: F811
    params: dict[str, str],
    names: str,
) -> None:
    async with api_client(app_with(database)) as client:
        response = await client.get("/calls", params=params, headers=AUTH)
        body = await response.json()
    assert response.status == 400
    assert body["error"]["id"] == "invalid_query"
    assert names in body["error"]["message"]
    assert body["error"]["param"] == names.split(":")[0]
    check_response("GET", "/calls", 400, body)


async def test_a_database_that_is_down_is_a_503_not_a_500() -> None:
    down = Database("postgresql://postgres@127.0.0.1:1/none", "nowhere")
    async with api_client(app_with(down)) as client:
        for path in ("/calls", "/stats"):
            response = await client.get(path, params=DAY, headers=AUTH)
            assert response.status == 503
            check_response("GET", path, 503, await response.json())
            assert (await response.json())["error"]["id"] == "database_unavailable"
