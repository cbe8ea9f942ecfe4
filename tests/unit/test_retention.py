"""Tier 1: retention's pure rules (cutoffs, the forms a caller ID is stored in, masking),
the keep_days options, and the erase command's report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from switchboard.config import CallsConfig, ConfigError, load_config
from switchboard.dialpolicy import masked
from switchboard.numbers import BadNumber, to_e164
from switchboard.retention.command import describe
from switchboard.retention.erase import Erasure
from switchboard.retention.policy import caller_forms, cutoff, valid_e164
from switchboard.retention.spools import Spooled, is_callers_call
from switchboard.retention.store import Deleted
from tests.unit.test_config_and_cli import GOOD, write

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


# -- cutoffs ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("now", "days", "before"),
    [
        (NOW, 1, datetime(2026, 11, 24, 12, 0, tzinfo=UTC)),
        (NOW, 365, datetime(2025, 11, 25, 12, 0, tzinfo=UTC)),
        (NOW, 366, datetime(2025, 11, 24, 12, 0, tzinfo=UTC)),
        # 2028 is a leap year: 365 days before 1 March 2029 is 1 March 2028
        (datetime(2029, 3, 1, tzinfo=UTC), 365, datetime(2028, 3, 1, tzinfo=UTC)),
        # days are 24 hours, whatever the offset: the same instant as in UTC
        (
            datetime(2026, 11, 25, 15, 0, tzinfo=timezone(timedelta(hours=3))),
            30,
            datetime(2026, 10, 26, 12, 0, tzinfo=UTC),
        ),
        # across a DST change (Berlin, 25 October 2026): 24-hour days, not wall-clock days
        (
            datetime(2026, 11, 1, 12, 0, tzinfo=ZoneInfo("Europe/Berlin")),
            14,
            datetime(2026, 10, 18, 11, 0, tzinfo=UTC),
        ),
    ],
)
def test_the_cutoff_is_keep_days_of_24_hours_before_now(
    now: datetime, days: int, before: datetime
) -> None:
    assert cutoff(now, days) == before


@given(
    st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime(2100, 1, 1),
        timezones=st.sampled_from([UTC, ZoneInfo("Europe/Moscow"), ZoneInfo("America/New_York")]),
    ),
    st.integers(min_value=1, max_value=36_600),
)
def test_what_is_older_than_the_cutoff_is_older_than_keep_days(now: datetime, days: int) -> None:
    before = cutoff(now, days)
    assert before < now
    assert (now - before).total_seconds() == days * 86_400


def test_a_cutoff_needs_an_aware_now_and_a_day_at_least() -> None:
    with pytest.raises(ValueError, match="aware"):
        cutoff(datetime(2026, 11, 25), 30)
    with pytest.raises(ValueError, match="at least 1"):
        cutoff(NOW, 0)


# -- how a caller's number is stored ------------------------------------------------------
def test_a_russian_number_is_matched_in_every_form_a_caller_id_takes() -> None:
    assert set(caller_forms("+79161234567")) == {
        "+79161234567",
        "0079161234567",
        "79161234567",
        "89161234567",
        "9161234567",
    }


def test_a_foreign_number_is_matched_with_plus_or_00_only() -> None:
    assert set(caller_forms("+491701234567")) == {"+491701234567", "00491701234567"}


def test_caller_forms_takes_e164_only() -> None:
    with pytest.raises(ValueError, match=r"E\.164"):
        caller_forms("89161234567")


caller_ids = st.builds(
    lambda prefix, digits: prefix + digits,
    st.sampled_from(["", "+", "00", "7", "8"]),
    st.text("0123456789", min_size=6, max_size=16),
)


@given(caller_ids, st.text("0123456789", min_size=10, max_size=10))
def test_a_caller_id_is_one_of_the_forms_exactly_when_it_means_the_number(
    caller_id: str, national: str
) -> None:
    """The SQL matches caller IDs against caller_forms: it must find every caller ID
    that to_e164 reads as the number, and no other."""
    numbers = [f"+7{national}"] + ([to_e164(caller_id)] if _dialable(caller_id) else [])
    for e164 in numbers:
        means_it = _dialable(caller_id) and to_e164(caller_id) == e164
        assert (caller_id in caller_forms(e164)) == means_it, (caller_id, e164)


def _dialable(text: str) -> bool:
    try:
        to_e164(text)
    except BadNumber:
        return False
    return True


# -- masking --------------------------------------------------------------------------------
def test_a_masked_number_shows_its_country_and_last_two_digits() -> None:
    assert masked("+79161234567") == "+7********67"
    assert masked("+491701234567") == "+4*********67"
    assert masked("123") == "***"


@given(st.text("0123456789", min_size=8, max_size=15).map(lambda d: "+" + d))
def test_a_masked_number_never_gives_the_number_away(number: str) -> None:
    shown = masked(number)
    assert len(shown) == len(number)
    assert sum(c.isdigit() for c in shown) == 3  # the first digit and the last two


# -- spooled calls -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("call", "theirs"),
    [
        ({"caller": "89161234567", "flow_version": "v1", "legs": []}, True),
        ({"caller": "+79169876543", "flow_version": "v1", "legs": []}, False),
        # a callback call: the company number calls theirs (new and pre-008 legs)
        ({"caller": "+74951234567", "flow_version": "callback",
          "legs": [{"target": "+79161234567", "result": "answered"}]}, True),
        ({"caller": "+74951234567", "flow_version": "callback",
          "legs": [["+79161234567", "no_answer"]]}, True),
        # their number rung as an agent's mobile in someone else's call: not their call
        ({"caller": "+79169876543", "flow_version": "v1",
          "legs": [{"target": "+79161234567", "result": "answered"}]}, False),
        ({"flow_version": "callback", "legs": "not a list"}, False),
    ],
)  # fmt: skip
def test_a_spooled_call_is_the_callers_by_its_caller_id_or_as_a_callback_to_them(
    call: dict[str, object], theirs: bool
) -> None:
    e164 = "+79161234567"
    assert is_callers_call(call, caller_forms(e164), e164) is theirs


# -- the options ------------------------------------------------------------------------
DATABASE = 'database: {url: "postgresql://u@127.0.0.1/db"}\n'


def test_keep_days_is_absent_by_default_and_read_where_given(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD + DATABASE))
    assert config.calls == CallsConfig(keep_days=None)
    text = (
        GOOD
        + DATABASE
        + "calls: {keep_days: 365}\n"
        + "voicemail: {directory: vm, keep_days: 90}\n"
        + "recording: {directory: rec, keep_days: 30}\n"
    )
    config = load_config(write(tmp_path, text))
    assert config.calls.keep_days == 365
    assert config.voicemail is not None
    assert config.voicemail.keep_days == 90
    assert config.recording is not None
    assert config.recording.keep_days == 30


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("calls: {keep_days: 0}", "8:20: calls.keep_days: expected a whole number of days "
         "from 1 to 36600, got '0' (omit the key to keep for ever)"),
        ("calls: {keep_days: 1.5}", "8:20: calls.keep_days: expected a whole number"),
        ("calls: {keep_days: -3}", "8:20: calls.keep_days: expected a whole number"),
        ("calls: {keep_days: 99999}", "8:20: calls.keep_days: expected a whole number"),
        ("calls: {keep: 30}", "8:15: calls: unknown key 'keep' (known: keep_days)"),
        ("recording: {directory: r, keep_days: forever}",
         "8:38: recording.keep_days: expected a whole number"),
    ],
)  # fmt: skip
def test_a_wrong_keep_days_names_its_place_and_the_fix(
    tmp_path: Path, section: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, GOOD + DATABASE + section + "\n"))
    assert str(caught.value).startswith(f"{tmp_path / 'switchboard.yaml'}:{message}")


@pytest.mark.parametrize(
    "recording", ["recording: {directory: rec}", "recording: {directory: rec, keep_days: 400}"]
)
def test_recordings_may_not_outlive_the_calls_that_find_them(
    tmp_path: Path, recording: str
) -> None:
    """A recording is found through its call (erasure, the call log's link): one kept
    after its call is swept would be kept for ever, and an erasure would miss it."""
    text = GOOD + DATABASE + "calls: {keep_days: 365}\n" + recording + "\n"
    with pytest.raises(ConfigError, match=r":8:20: calls.keep_days: recording.keep_days must "
                       "be set and at most 365 too"):  # fmt: skip
        load_config(write(tmp_path, text))


@pytest.mark.parametrize(
    ("section", "where"),
    [
        ("calls: {keep_days: 30}", "7:20: calls.keep_days"),
        ("voicemail: {directory: vm, keep_days: 30}", "7:39: voicemail.keep_days"),
        ("recording: {directory: rec, keep_days: 30}", "7:40: recording.keep_days"),
    ],
)
def test_keep_days_needs_a_database(tmp_path: Path, section: str, where: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, GOOD + section + "\n"))
    assert str(caught.value) == (
        f"{tmp_path / 'switchboard.yaml'}:{where}: needs a database: section "
        "(what to delete is found in PostgreSQL)"
    )


# -- the erase command's report ---------------------------------------------------------
def erasure(**changes: object) -> Erasure:
    fields: dict[str, object] = {
        "number": "+7********67",
        "dry_run": False,
        "deleted": Deleted(calls=3, call_legs=5, recordings=1, voicemails=2, callbacks=1),
        "files": 3,
        "files_kept": 0,
        "open_callbacks": 0,
        "spooled": Spooled(),
        "crm_customer": None,
    }
    return Erasure(**{**fields, **changes})  # type: ignore[arg-type]


def test_the_report_says_what_went() -> None:
    assert describe(erasure()) == [
        "+7********67: erased 3 calls (5 legs), 1 recording, 2 voicemails, 1 queue callback,"
        " 0 web callbacks; 3 files deleted"
    ]
    assert erasure().complete


def test_the_report_says_what_is_left_and_what_to_do() -> None:
    left = erasure(
        dry_run=True,
        files_kept=1,
        open_callbacks=2,
        spooled=Spooled(calls=1, web_callbacks=2),
        crm_customer=42,
    )
    assert not left.complete
    assert describe(left) == [
        "+7********67: would erase 3 calls (5 legs), 1 recording, 2 voicemails, 1 queue callback,"
        " 0 web callbacks; 3 files to delete",
        "kept: 1 file that cannot be deleted, and their rows (the log says why)",
        "kept: 2 callback requests not finished (the daemon is calling)",
        "kept: still in the daemon's spools, not in PostgreSQL yet: 1 call, 2 web callbacks",
        "erase again once the daemon has finished with them",
        "not erased: the CRM's customer 42 with this number (the company's record: docs/deploy.md)",
    ]


def test_the_crm_record_alone_leaves_the_erasure_complete() -> None:
    assert erasure(crm_customer=42).complete


@pytest.mark.parametrize("number", ["0301234567", "+70301234567", "+7 000 000 00 00"])
def test_a_number_that_is_no_real_number_is_not_erased_as_some_other(number: str) -> None:
    """A Berlin number written without +49 reads as +7 030 ...: no such number; erasing
    it would erase nothing and answer "complete", so it is refused instead."""
    with pytest.raises(BadNumber, match="country code"):
        valid_e164(number)


def test_a_real_number_is_erased_in_e164() -> None:
    assert valid_e164("8 (916) 123-45-67") == "+79161234567"
    assert valid_e164("+49 30 12345678") == "+493012345678"
