"""Which address a request came from: only the proxies we run are believed."""

from __future__ import annotations

import pytest

from drop.client_address import KNOWN_HOSTS, TrustedProxies, client_address, forwarded_hops

OURS = TrustedProxies("127.0.0.1, 10.0.0.0/8, fdaa::/16")


@pytest.mark.parametrize(
    ("peer", "chain", "expected"),
    [
        # A peer we do not run: its header is the client's own writing.
        ("203.0.113.5", "1.2.3.4", "203.0.113.5"),
        # Our web appended the peer it saw; what the client wrote before it is ignored.
        ("127.0.0.1", "127.0.0.2, 10.4.0.7, 198.51.100.9", "198.51.100.9"),
        ("127.0.0.1", "127.0.0.2, 10.4.0.7, 198.51.100.9, 10.1.1.1", "198.51.100.9"),
        # The attack: the client's own address, then a made-up hop; our web appends the peer.
        ("127.0.0.1", "127.0.0.2, 10.4.0.7, 127.0.0.2", "127.0.0.2"),
        ("fdaa::3", "2001:db8::1", "2001:db8::1"),
        ("::ffff:10.0.0.9", "198.51.100.1", "198.51.100.1"),  # a dual-stack socket
        # Everything is ours: the request began inside.
        ("127.0.0.1", "10.0.0.5, 10.0.0.6", "10.0.0.5"),
        ("127.0.0.1", "", "127.0.0.1"),
        # A hop we wrote that is no address stops the walk; it never lets one through.
        ("127.0.0.1", "1.2.3.4, unknown", "unknown"),
        (None, "1.2.3.4", "unknown"),
    ],
)
def test_the_nearest_hop_we_do_not_run_is_the_client(
    peer: str | None, chain: str, expected: str
) -> None:
    assert client_address(peer, forwarded_hops([chain]), OURS) == expected


def test_every_header_line_counts_in_order() -> None:
    assert forwarded_hops(["1.1.1.1, 2.2.2.2", " 3.3.3.3 ,,"]) == ["1.1.1.1", "2.2.2.2", "3.3.3.3"]


@pytest.mark.parametrize("spec", ["*", "10.0.0.0/8, proxy.internal"])
def test_a_trusted_entry_that_is_not_an_address_refuses_to_start(spec: str) -> None:
    with pytest.raises(ValueError, match="FORWARDED_ALLOW_IPS"):
        TrustedProxies(spec)


def test_remembered_answers_stay_right_past_the_memo() -> None:
    proxies = TrustedProxies("10.0.0.0/8")
    for round_ in range(2):  # the second round asks again after the memo was emptied
        for i in range(KNOWN_HOSTS + 10):
            ours, theirs = f"10.0.{i // 256}.{i % 256}", f"198.51.{i // 256}.{i % 256}"
            assert ours in proxies, (round_, ours)
            assert theirs not in proxies, (round_, theirs)
    assert ["not an address" in proxies for _ in range(2)] == [False, False]
