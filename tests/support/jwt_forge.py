"""Hand-made tokens for the tampering cases of API.md and RFC 8725."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(
    user_id: int | str = 1, *, issuer: str = "halo", audience: str = "halo-api", **changes: Any
) -> dict[str, Any]:
    now = int(time.time())
    payload: dict[str, Any] = {
        "sub": str(user_id),
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "iss": issuer,
        "aud": audience,
        "jti": uuid.uuid4().hex,
    }
    for key, value in changes.items():
        if value is None:
            payload.pop(key, None)
        else:
            payload[key] = value
    return payload


def sign(
    payload: dict[str, Any], secret: str, *, header: dict[str, Any] | None = None, digest: str = "sha256"
) -> str:
    head = {"alg": "HS256", "typ": "JWT", **(header or {})}
    signing_input = f"{b64(json.dumps(head).encode())}.{b64(json.dumps(payload).encode())}"
    signature = hmac.new(secret.encode(), signing_input.encode(), getattr(hashlib, digest)).digest()
    return f"{signing_input}.{b64(signature)}"


def unsigned(payload: dict[str, Any]) -> str:
    head = {"alg": "none", "typ": "JWT"}
    return f"{b64(json.dumps(head).encode())}.{b64(json.dumps(payload).encode())}."


def tamper_payload(token: str, **changes: Any) -> str:
    """Change claims but keep the original signature."""
    head, body, signature = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload.update(changes)
    return f"{head}.{b64(json.dumps(payload).encode())}.{signature}"


def tampering_cases(
    user_id: int, secret: str, *, issuer: str = "halo", audience: str = "halo-api"
) -> dict[str, str]:
    """Every token API.md says must be refused, for a user that exists."""
    good = sign(claims(user_id, issuer=issuer, audience=audience), secret)
    base = {"issuer": issuer, "audience": audience}
    now = int(time.time())
    return {
        "alg_none": unsigned(claims(user_id, **base)),
        "alg_hs512": sign(claims(user_id, **base), secret, header={"alg": "HS512"}, digest="sha512"),
        "alg_rs256_with_hmac": sign(claims(user_id, **base), secret, header={"alg": "RS256"}),
        "kid_header": sign(claims(user_id, **base), secret, header={"kid": "key-1"}),
        "jku_header": sign(claims(user_id, **base), secret, header={"jku": "https://evil.example/jwks"}),
        "x5u_header": sign(claims(user_id, **base), secret, header={"x5u": "https://evil.example/cert"}),
        "crit_header": sign(claims(user_id, **base), secret, header={"crit": ["exp"]}),
        "bad_signature": sign(claims(user_id, **base), secret + "-other-secret-entirely"),
        "tampered_payload": tamper_payload(good, sub=str(user_id + 1000)),
        "missing_exp": sign(claims(user_id, **base, exp=None), secret),
        "missing_jti": sign(claims(user_id, **base, jti=None), secret),
        "missing_nbf": sign(claims(user_id, **base, nbf=None), secret),
        "missing_iat": sign(claims(user_id, **base, iat=None), secret),
        "missing_iss": sign(claims(user_id, **base, iss=None), secret),
        "missing_aud": sign(claims(user_id, **base, aud=None), secret),
        "missing_sub": sign(claims(user_id, **base, sub=None), secret),
        "expired": sign(claims(user_id, **base, exp=now - 120, iat=now - 3720, nbf=now - 3720), secret),
        "not_yet_valid": sign(claims(user_id, **base, nbf=now + 120), secret),
        "wrong_issuer": sign(claims(user_id, issuer="someone-else", audience=audience), secret),
        "wrong_audience": sign(claims(user_id, issuer=issuer, audience="another-api"), secret),
        "garbage": "not-a-jwt",
        "two_segments": "abc.def",
    }
