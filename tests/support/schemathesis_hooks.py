"""Schemathesis hooks for HALO's contract fuzzing (loaded through SCHEMATHESIS_HOOKS).

They only keep *positive* (schema-valid) cases within rules JSON Schema cannot
state; schema-violating cases are left alone.
"""

from __future__ import annotations

import uuid
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
    body = case.body
    # A cursor is opaque: only values the server issued are valid, and a random string is a 400 by contract.
    if case.query and "cursor" in case.query:
        case.query = {k: v for k, v in case.query.items() if k != "cursor"}
    # A batch read (`ids`) goes alone and names each id once.
    if case.query and "ids" in case.query:
        ids = str(case.query["ids"]).split(",")
        case.query = {"ids": ",".join(dict.fromkeys(ids))}
    # A reply's parent must be a published top-level comment of the video: only the server knows which.
    if isinstance(body, dict) and "parent_id" in body and case.operation.path.endswith("/comments"):
        case.body = body = {k: v for k, v in body.items() if k != "parent_id"}
    # An anonymous viewer_id has the presence id's form (any form is accepted when authenticated).
    if (
        isinstance(body, dict)
        and "viewer_id" in body
        and case.operation.path.endswith(("/views", "/presence"))
    ):
        case.body = body = {**body, "viewer_id": "fuzzing-viewer"}
    if case.query and "viewer_id" in case.query and case.operation.path.endswith("/presence"):
        case.query = {**case.query, "viewer_id": "fuzzing-viewer"}
    # An Idempotency-Key names one request: a key generated again for another body is a 422 by contract.
    if case.headers and "Idempotency-Key" in case.headers:
        key = f"{case.headers['Idempotency-Key']}-{uuid.uuid4()}"
        case.headers = {**case.headers, "Idempotency-Key": key[-255:]}
    # JSON Schema counts characters; the contract counts UTF-8 bytes of a password (8 to 72).
    if (
        isinstance(body, dict)
        and isinstance(body.get("password"), str)
        and case.operation.path.endswith("/register")
    ):
        password = body["password"].encode()[:72].decode(errors="ignore")
        case.body = {**body, "password": password + "x" * max(0, 8 - len(password.encode()))}
    return case
