"""Schemathesis hooks for HALO's contract fuzzing (loaded through SCHEMATHESIS_HOOKS).

They only keep *positive* (schema-valid) cases within rules JSON Schema cannot
state; schema-violating cases are left alone.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from schemathesis import GenerationMode


def _positive(case: Any) -> bool:
    meta = getattr(case, "meta", None)
    return meta is None or meta.generation.mode == GenerationMode.POSITIVE


@schemathesis.hook
def map_case(ctx: Any, case: Any) -> Any:
    if not _positive(case):
        return case
    # A cursor is opaque: only values the server issued are valid, and a random string is a 400 by contract.
    if case.query and "cursor" in case.query:
        case.query = {k: v for k, v in case.query.items() if k != "cursor"}
    # JSON Schema counts characters; the contract counts UTF-8 bytes of a password (8 to 72).
    body = case.body
    if (
        isinstance(body, dict)
        and isinstance(body.get("password"), str)
        and case.operation.path.endswith("/register")
    ):
        password = body["password"].encode()[:72].decode(errors="ignore")
        case.body = {**body, "password": password + "x" * max(0, 8 - len(password.encode()))}
    return case
