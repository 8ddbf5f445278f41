"""JWT issuing and verification (HS256 only, RFC 8725 habits).

Verification is strict: one algorithm, every claim required, no key-selecting
or extension headers, a bounded clock leeway. Signatures made with a previous
secret (JWT_PREVIOUS_SECRETS) still verify, so a secret can be rotated without
logging everybody out; new tokens always use the current secret.

A client sends the same token with every request, so a token that passed every
check is remembered (at most `VERIFIED_CACHE_SIZE` of them, the oldest
forgotten first) with its claims; the same string again is only checked for
expiry. Being in the cache means only "this exact string verified before":
revocation and the user's state are checked on every request, as before.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt

ALGORITHM = "HS256"
MAX_TOKEN_LENGTH = 4096
LEEWAY_SECONDS = 10
VERIFIED_CACHE_SIZE = 10_000
REQUIRED_CLAIMS = ("sub", "iat", "nbf", "exp", "iss", "aud", "jti")
# Headers that select keys or change processing: a token carrying any is refused.
FORBIDDEN_HEADERS = frozenset({"kid", "jku", "x5u", "x5c", "x5t", "x5t#S256", "jwk", "crit"})


class InvalidToken(Exception):
    """The token is malformed, forged, expired or otherwise unacceptable. `reason` is for metrics and logs."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class TokenClaims:
    user_id: int
    jti: str
    expires_at: int


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    jti: str
    expires_in: int
    expires_at: int


class TokenCodec:
    def __init__(
        self,
        secret: str,
        *,
        issuer: str,
        audience: str,
        ttl_seconds: int,
        previous_secrets: tuple[str, ...] = (),
    ) -> None:
        self._secret = secret
        self._verify_keys = (secret, *previous_secrets)
        self._issuer = issuer
        self._audience = audience
        self._ttl = ttl_seconds
        self._options: Any = {"require": list(REQUIRED_CLAIMS), "verify_signature": True}
        self._verified: dict[str, TokenClaims] = {}  # insertion order: the oldest first

    def issue(self, user_id: int, *, now: float | None = None) -> IssuedToken:
        issued_at = int(now if now is not None else time.time())
        jti = uuid.uuid4().hex
        payload = {
            "sub": str(user_id),
            "iat": issued_at,
            "nbf": issued_at,
            "exp": issued_at + self._ttl,
            "iss": self._issuer,
            "aud": self._audience,
            "jti": jti,
        }
        token = jwt.encode(payload, self._secret, algorithm=ALGORITHM, headers={"typ": "JWT"})
        return IssuedToken(token=token, jti=jti, expires_in=self._ttl, expires_at=issued_at + self._ttl)

    def verify(self, token: str) -> TokenClaims:
        claims = self._verified.get(token)
        if claims is not None:
            if claims.expires_at <= time.time() - LEEWAY_SECONDS:  # PyJWT's own test, with the leeway
                raise InvalidToken("expired")  # (and stays remembered: refused again just as cheaply)
            return claims
        claims = self._verify(token)
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            del self._verified[next(iter(self._verified))]
        self._verified[token] = claims
        return claims

    def _verify(self, token: str) -> TokenClaims:
        if not token.isascii() or len(token) > MAX_TOKEN_LENGTH:
            raise InvalidToken("malformed")
        try:
            header = jwt.get_unverified_header(token)
        except (jwt.PyJWTError, ValueError):
            raise InvalidToken("malformed") from None
        if header.get("alg") != ALGORITHM:
            raise InvalidToken("algorithm")
        if FORBIDDEN_HEADERS.intersection(header):
            raise InvalidToken("header")
        if header.get("typ", "JWT") != "JWT":
            raise InvalidToken("header")

        claims = None
        for key in self._verify_keys:
            try:
                claims = jwt.decode(
                    token,
                    key,
                    algorithms=[ALGORITHM],
                    audience=self._audience,
                    issuer=self._issuer,
                    leeway=LEEWAY_SECONDS,
                    options=self._options,
                )
                break
            except jwt.InvalidSignatureError:
                continue
            except jwt.ExpiredSignatureError:
                raise InvalidToken("expired") from None
            except jwt.ImmatureSignatureError:
                raise InvalidToken("not_yet_valid") from None
            except (jwt.InvalidAudienceError, jwt.InvalidIssuerError):
                raise InvalidToken("issuer_or_audience") from None
            except jwt.MissingRequiredClaimError:
                raise InvalidToken("missing_claim") from None
            except jwt.PyJWTError:
                raise InvalidToken("malformed") from None
        if claims is None:
            raise InvalidToken("signature")

        sub, jti, exp = claims["sub"], claims["jti"], claims["exp"]
        if not isinstance(sub, str) or not sub.isascii() or not sub.isdigit():
            raise InvalidToken("subject")
        user_id = int(sub)
        if not 0 < user_id < 2**63:
            raise InvalidToken("subject")
        if not isinstance(jti, str) or not 0 < len(jti) <= 64:
            raise InvalidToken("jti")
        if not isinstance(claims["iat"], int | float) or not isinstance(exp, int | float):
            raise InvalidToken("malformed")
        return TokenClaims(user_id=user_id, jti=jti, expires_at=int(exp))
