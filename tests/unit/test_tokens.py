"""JWT rules of API.md: HS256 only, every claim required, no key-selecting headers, bounded leeway."""

from __future__ import annotations

import time

import pytest

from halo.security import tokens
from halo.security.tokens import InvalidToken, TokenCodec
from tests.support import jwt_forge

SECRET = "s" * 40
OLD_SECRET = "o" * 40


def codec(**kwargs: object) -> TokenCodec:
    options = {"issuer": "halo", "audience": "halo-api", "ttl_seconds": 3600}
    options.update(kwargs)
    return TokenCodec(SECRET, **options)  # type: ignore[arg-type]


def test_issued_token_verifies_with_its_claims() -> None:
    issued = codec().issue(42)
    claims = codec().verify(issued.token)
    assert claims.user_id == 42
    assert claims.jti == issued.jti
    assert issued.expires_in == 3600
    assert claims.expires_at == issued.expires_at


def test_each_token_has_a_unique_jti() -> None:
    assert codec().issue(1).jti != codec().issue(1).jti


@pytest.mark.parametrize("case", sorted(jwt_forge.tampering_cases(7, SECRET)))
def test_tampered_token_is_refused(case: str) -> None:
    token = jwt_forge.tampering_cases(7, SECRET)[case]
    with pytest.raises(InvalidToken):
        codec().verify(token)


def test_expiry_within_leeway_is_accepted_and_beyond_is_refused() -> None:
    now = int(time.time())
    inside = jwt_forge.sign(jwt_forge.claims(3, exp=now - 5, iat=now - 100, nbf=now - 100), SECRET)
    beyond = jwt_forge.sign(jwt_forge.claims(3, exp=now - 31, iat=now - 100, nbf=now - 100), SECRET)
    assert codec().verify(inside).user_id == 3
    with pytest.raises(InvalidToken, match="expired"):
        codec().verify(beyond)


def test_non_numeric_subject_is_refused() -> None:
    with pytest.raises(InvalidToken):
        codec().verify(jwt_forge.sign(jwt_forge.claims("admin"), SECRET))


def test_previous_secret_still_verifies_but_new_tokens_use_the_current_one() -> None:
    old = TokenCodec(OLD_SECRET, issuer="halo", audience="halo-api", ttl_seconds=60).issue(5).token
    rotated = codec(previous_secrets=(OLD_SECRET,))
    assert rotated.verify(old).user_id == 5
    with pytest.raises(InvalidToken):
        codec().verify(old)  # without the previous secret configured
    fresh = rotated.issue(5).token
    assert TokenCodec(SECRET, issuer="halo", audience="halo-api", ttl_seconds=60).verify(fresh).user_id == 5
    with pytest.raises(InvalidToken):
        TokenCodec(OLD_SECRET, issuer="halo", audience="halo-api", ttl_seconds=60).verify(fresh)


def test_non_ascii_and_huge_tokens_are_refused_not_crashing() -> None:
    for token in ("\udcff\udcfe.\x00.x", "é" * 10, "a." * 5000 + "a", "a.b.c"):
        with pytest.raises(InvalidToken):
            codec().verify(token)


def test_a_token_seen_before_is_not_parsed_again(monkeypatch: pytest.MonkeyPatch) -> None:
    verifier = codec()
    token = verifier.issue(11).token
    first = verifier.verify(token)
    decoded: list[str] = []
    real = tokens.jwt.decode

    def spy(*args: object, **kwargs: object) -> object:
        decoded.append("decode")
        return real(*args, **kwargs)

    monkeypatch.setattr(tokens.jwt, "decode", spy)
    assert verifier.verify(token) == first
    assert decoded == []
    other = verifier.issue(12).token
    assert verifier.verify(other).user_id == 12
    assert decoded == ["decode"]  # a new token is checked in full


def test_a_remembered_token_still_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    verifier = codec(ttl_seconds=60)
    issued = verifier.issue(13)
    assert verifier.verify(issued.token).user_id == 13
    clock = issued.expires_at + tokens.LEEWAY_SECONDS - 1
    monkeypatch.setattr(tokens.time, "time", lambda: clock)
    assert verifier.verify(issued.token).user_id == 13  # within the leeway
    clock = issued.expires_at + tokens.LEEWAY_SECONDS + 1
    monkeypatch.setattr(tokens.time, "time", lambda: clock)
    for _ in range(2):  # and stays refused
        with pytest.raises(InvalidToken, match="expired"):
            verifier.verify(issued.token)


def test_a_tampered_copy_of_a_remembered_token_is_refused() -> None:
    verifier = codec()
    token = verifier.issue(14).token
    verifier.verify(token)
    head, payload, signature = token.split(".")
    forged_payload = jwt_forge.sign(jwt_forge.claims(1), "x" * 40).split(".")[1]
    other_signature = signature[:-1] + ("A" if signature[-1] != "A" else "Q")  # always a different one
    for forged in (f"{head}.{forged_payload}.{signature}", f"{head}.{payload}.{other_signature}"):
        assert forged != token
        with pytest.raises(InvalidToken):
            verifier.verify(forged)


def test_the_remembered_tokens_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokens, "VERIFIED_CACHE_SIZE", 5)
    verifier = codec()
    issued = [verifier.issue(n) for n in range(1, 9)]
    for token in issued:
        verifier.verify(token.token)
    assert len(verifier._verified) == 5  # type: ignore[attr-defined]
    assert list(verifier._verified) == [t.token for t in issued[3:]]  # type: ignore[attr-defined]  # the oldest went
    assert verifier.verify(issued[0].token).user_id == 1  # forgotten, checked again in full
