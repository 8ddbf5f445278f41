"""The client IP is the peer unless the peer is a trusted proxy; X-Forwarded-For cannot pick a bucket."""

from __future__ import annotations

from halo.middleware.client_ip import ClientIpResolver, client_key


def test_without_trusted_proxies_the_header_is_ignored() -> None:
    assert ClientIpResolver([]).resolve("203.0.113.7", "1.2.3.4") == "203.0.113.7"


def test_untrusted_peer_cannot_spoof() -> None:
    resolver = ClientIpResolver(["10.0.0.0/8"])
    assert resolver.resolve("203.0.113.7", "1.2.3.4") == "203.0.113.7"


def test_trusted_proxy_gives_the_rightmost_untrusted_hop() -> None:
    resolver = ClientIpResolver(["10.0.0.0/8"])
    # the client put 1.2.3.4 in the header itself; the proxy appended the real address
    assert resolver.resolve("10.0.0.5", "1.2.3.4, 198.51.100.9") == "198.51.100.9"
    assert resolver.resolve("10.0.0.5", "198.51.100.9, 10.1.1.1") == "198.51.100.9"


def test_garbage_hop_falls_back_to_the_peer() -> None:
    resolver = ClientIpResolver(["10.0.0.0/8"])
    assert resolver.resolve("10.0.0.5", "not-an-ip") == "10.0.0.5"


def test_ipv4_mapped_peer_matches_ipv4_network() -> None:
    resolver = ClientIpResolver(["127.0.0.1"])
    assert resolver.resolve("::ffff:127.0.0.1", "198.51.100.9") == "198.51.100.9"


def test_every_forwarded_for_line_counts_read_as_one_list_from_the_right() -> None:
    resolver = ClientIpResolver(["10.0.0.0/8"])
    # The client sent a line of its own; the proxy appended the real address on a second line.
    assert resolver.resolve("10.0.0.5", ["1.2.3.4", "198.51.100.9"]) == "198.51.100.9"
    assert resolver.resolve("10.0.0.5", ["198.51.100.9", "10.1.1.1, 10.2.2.2"]) == "198.51.100.9"
    assert resolver.resolve("10.0.0.5", ["6.6.6.6, 198.51.100.9", "10.1.1.1"]) == "198.51.100.9"


def test_an_ipv6_client_is_keyed_by_its_64_prefix() -> None:
    assert client_key("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64"
    assert client_key("2001:db8:1:2:ffff:ffff:ffff:ffff") == client_key("2001:db8:1:2::1")
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")


def test_an_ipv4_client_is_keyed_by_its_full_address() -> None:
    assert client_key("198.51.100.9") == "198.51.100.9"
    assert client_key("198.51.100.10") != client_key("198.51.100.9")
    assert client_key("::ffff:198.51.100.9") == "198.51.100.9"
