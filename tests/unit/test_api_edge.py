"""Tier 1: the API's edge, pure parts: who the client is behind proxies, the address
keys, the connection counts, the open-files sums, the refusal log."""

from __future__ import annotations

import ipaddress
import resource

import pytest
from hypothesis import given
from hypothesis import strategies as st

from switchboard.api.clients import address_key, client_address, parse_address
from switchboard.api.connections import (
    FD_RESERVE,
    MIN_CONNECTIONS,
    UNLIMITED_FILES,
    ConnectionGate,
    connection_cap,
    fd_reserve,
    open_files_target,
)
from switchboard.api.refusals import RefusalLog
from switchboard.config import Network

PROXY = (ipaddress.ip_network("127.0.0.1/32"),)
TWO_PROXIES = (ipaddress.ip_network("10.0.0.0/8"),)
V6_PROXY = (ipaddress.ip_network("::1/128"), ipaddress.ip_network("fd00::/8"))


# -- who the client is ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("peer", "lines", "trusted", "client"),
    [
        # No trusted proxies: the socket's peer, the header never read.
        ("203.0.113.7", [], (), "203.0.113.7"),
        ("203.0.113.7", ["1.2.3.4"], (), "203.0.113.7"),
        ("127.0.0.1", ["1.2.3.4"], (), "127.0.0.1"),
        # A peer that is not a trusted proxy: its header is a lie.
        ("203.0.113.7", ["1.2.3.4"], PROXY, "203.0.113.7"),
        ("127.0.0.1", ["1.2.3.4"], PROXY, "1.2.3.4"),
        # nginx ($proxy_add_x_forwarded_for): one line, the client's forgery first.
        ("127.0.0.1", ["9.9.9.9, 1.2.3.4"], PROXY, "1.2.3.4"),
        ("127.0.0.1", ["9.9.9.9,8.8.8.8 ,1.2.3.4"], PROXY, "1.2.3.4"),
        # HAProxy (option forwardfor): the client's own line first, the proxy's after.
        ("127.0.0.1", ["9.9.9.9", "1.2.3.4"], PROXY, "1.2.3.4"),
        ("127.0.0.1", ["9.9.9.9, 8.8.8.8", "1.2.3.4"], PROXY, "1.2.3.4"),
        # Two proxies of ours: the address before them is the client.
        ("10.0.0.2", ["9.9.9.9, 1.2.3.4, 10.0.0.1"], TWO_PROXIES, "1.2.3.4"),
        ("10.0.0.2", ["9.9.9.9", "1.2.3.4", "10.0.0.1"], TWO_PROXIES, "1.2.3.4"),
        # Garbage written by the client is never reached; garbage where a trusted
        # proxy's entry should be stops the walk at that proxy.
        ("127.0.0.1", ["garbage, 1.2.3.4"], PROXY, "1.2.3.4"),
        ("127.0.0.1", ["garbage", "1.2.3.4"], PROXY, "1.2.3.4"),
        ("127.0.0.1", ["1.2.3.4, garbage"], PROXY, "127.0.0.1"),
        ("127.0.0.1", ["1.2.3.4", "unknown"], PROXY, "127.0.0.1"),
        ("127.0.0.1", ["", " , ", "1.2.3.4"], PROXY, "1.2.3.4"),  # empty entries skipped
        ("127.0.0.1", [], PROXY, "127.0.0.1"),  # the proxy's own request
        # Ports, as some proxies write them.
        ("127.0.0.1", ["1.2.3.4:5678"], PROXY, "1.2.3.4"),
        ("127.0.0.1", ["[2001:db8::5]:443"], PROXY, "2001:db8::5"),
        # IPv6: peers, proxies and clients.
        ("::1", ["2001:db8::5"], V6_PROXY, "2001:db8::5"),
        ("::1", ["2001:db8::bad, 2001:db8::5", "fd00::1"], V6_PROXY, "2001:db8::5"),
        ("::1", ["9.9.9.9", "1.2.3.4"], V6_PROXY, "1.2.3.4"),
        ("2001:db8::7", ["1.2.3.4"], V6_PROXY, "2001:db8::7"),
        # An IPv4 proxy seen through a dual-stack socket is still the proxy.
        ("::ffff:127.0.0.1", ["1.2.3.4"], PROXY, "1.2.3.4"),
        ("::ffff:203.0.113.7", [], (), "203.0.113.7"),
        (None, ["1.2.3.4"], PROXY, ""),  # no peer (the socket is gone)
    ],
)
def test_the_client_is_the_first_address_no_trusted_proxy_vouches_for(
    peer: str | None, lines: list[str], trusted: tuple[Network, ...], client: str
) -> None:
    assert client_address(peer, lines, trusted) == client


@given(
    forged=st.lists(st.text(max_size=30), max_size=5),
    real=st.ip_addresses(v=4).filter(lambda a: not a.is_loopback).map(str),
)
def test_nothing_a_client_writes_before_the_proxy_changes_who_it_is(
    forged: list[str], real: str
) -> None:
    # Whatever the client sends (one line or several, anything in them), nginx
    # appends the real peer to its last line, HAProxy adds a line after it.
    nginx = [*forged[:-1], f"{forged[-1]}, {real}"] if forged else [real]
    haproxy = [*forged, real]
    assert client_address("127.0.0.1", nginx, PROXY) == real
    assert client_address("127.0.0.1", haproxy, PROXY) == real


def test_addresses_are_read_as_sockets_and_proxies_write_them() -> None:
    assert parse_address(" 1.2.3.4 ") == ipaddress.ip_address("1.2.3.4")
    assert parse_address("::ffff:1.2.3.4") == ipaddress.ip_address("1.2.3.4")
    assert parse_address("[::1]") == ipaddress.ip_address("::1")
    assert parse_address("fe80::1%eth0") is not None
    for garbage in ("", "unknown", "1.2.3", "1.2.3.4:80:90", "[::1", "<script>", None):
        assert parse_address(garbage) is None


def test_ipv6_clients_are_counted_by_their_network() -> None:
    assert address_key("2001:db8:1:2::5") == "2001:db8:1:2::/64"
    assert address_key("2001:db8:1:2::5") == address_key("2001:db8:1:2:ffff::1")
    assert address_key("2001:db8:1:2::5") != address_key("2001:db8:1:3::5")
    assert address_key("fe80::1%eth0") == "fe80::/64"
    assert address_key("::ffff:1.2.3.4") == "1.2.3.4"
    assert address_key("") == ""


# -- connections at once ----------------------------------------------------------------------
def test_connections_are_limited_per_address_and_in_all() -> None:
    gate = ConnectionGate(total=5, per_address=2, exempt=lambda address: False)
    assert [gate.admit("203.0.113.7") for _ in range(3)] == ["", "", "max_connections_per_address"]
    assert gate.admit("2001:db8::1") == ""
    assert gate.admit("2001:db8::2") == ""  # the same /64
    assert gate.admit("2001:db8::3") == "max_connections_per_address"
    assert gate.admit("198.51.100.1") == ""
    assert gate.admit("198.51.100.2") == "max_connections"
    assert gate.open == 5
    gate.release("203.0.113.7")
    assert gate.held_by("203.0.113.7") == 1
    assert gate.admit("198.51.100.2") == ""  # room again
    for address in ("203.0.113.7", "2001:db8::1", "2001:db8::2", "198.51.100.1", "198.51.100.2"):
        gate.release(address)
    assert gate.open == 0
    assert gate.held_by("2001:db8::9") == 0


def test_a_trusted_proxy_is_limited_in_the_total_only() -> None:
    gate = ConnectionGate(total=4, per_address=1, exempt=lambda address: address == "127.0.0.1")
    assert [gate.admit("127.0.0.1") for _ in range(5)] == ["", "", "", "", "max_connections"]
    assert gate.held_by("127.0.0.1") == 0  # not counted per address at all


@given(st.lists(st.tuples(st.booleans(), st.sampled_from(["a", "b", "c", "::1", "::2"]))))
def test_the_counts_never_go_over_the_limits_nor_drift(events: list[tuple[bool, str]]) -> None:
    gate = ConnectionGate(total=4, per_address=2, exempt=lambda address: address == "c")
    admitted: list[str] = []
    for opening, address in events:
        if opening:
            if gate.admit(address) == "":
                admitted.append(address)
        elif address in admitted:
            admitted.remove(address)
            gate.release(address)
        assert gate.open == len(admitted) <= 4
        for held in ("a", "b", "::1"):
            assert gate.held_by(held) <= 2
    for address in admitted:
        gate.release(address)
    assert gate.open == 0
    assert all(gate.held_by(a) == 0 for a in ("a", "b", "c", "::1"))


# -- open files ---------------------------------------------------------------------------
INF = resource.RLIM_INFINITY


@pytest.mark.parametrize(
    ("soft", "hard", "target"),
    [
        (1024, 524288, 524288),  # systemd's default: raised to the hard limit
        (16384, 16384, 16384),  # LimitNOFILE=16384 sets both: nothing to raise
        (1024, INF, UNLIMITED_FILES),
        (INF, INF, INF),
        (4096, 1024, 4096),  # never lowered
    ],
)
def test_the_open_files_limit_is_raised_to_the_hard_limit(
    soft: int, hard: int, target: int
) -> None:
    assert open_files_target(soft, hard) == target


@pytest.mark.parametrize(
    ("configured", "soft", "reserve", "cap"),
    [
        (1000, 16384, FD_RESERVE, 1000),  # room enough
        (1000, 1024, FD_RESERVE, 1024 - FD_RESERVE),  # the daemon keeps its reserve
        (1000, 1024, fd_reserve(500), 1024 - FD_RESERVE - 500),  # and its AGI sessions
        (1000, 260, FD_RESERVE, MIN_CONNECTIONS),  # a limit too low: still a few
        (1000, INF, FD_RESERVE, 1000),
    ],
)
def test_api_connections_leave_the_daemon_its_reserve_of_open_files(
    configured: int, soft: int, reserve: int, cap: int
) -> None:
    assert connection_cap(configured, soft, reserve) == cap


def test_the_reserve_grows_with_agi_sessions() -> None:
    assert fd_reserve(0) == FD_RESERVE
    assert fd_reserve(500) == FD_RESERVE + 500


# -- refusals, logged without a flood -----------------------------------------------------------
def test_the_first_refusal_of_each_address_is_logged_then_counted() -> None:
    refusals = RefusalLog(tracked=100, detailed=20)
    logged = [refusals.note(address) for address in ["a", "a", "b", "a", "b", "c"]]
    assert logged == [True, False, True, False, False, True]
    summary = refusals.summary()
    assert summary is not None
    assert (summary.refused, summary.not_logged, summary.addresses) == (6, 3, 3)
    assert summary.top == (("a", 3), ("b", 2), ("c", 1))
    assert refusals.note("a")  # a new interval: logged in full again
    assert refusals.summary() is None  # every refusal of it was logged: no summary


def test_a_flood_of_addresses_writes_a_bounded_log_and_keeps_bounded_memory() -> None:
    refusals = RefusalLog(tracked=50, detailed=5, shown=3)
    logged = sum(refusals.note(f"10.0.{i // 256}.{i % 256}") for i in range(10_000))
    refusals.note("10.0.0.7")
    assert logged == 5
    assert len(refusals._counts) == 50
    summary = refusals.summary()
    assert summary is not None
    assert (summary.refused, summary.not_logged, summary.addresses) == (10_001, 9_996, 50)
    assert summary.top[0] == ("10.0.0.7", 2)
    assert len(summary.top) == 3
