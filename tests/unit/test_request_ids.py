"""Request ids the service makes: canonical UUIDs (version 4, RFC 4122 variant), all different."""

from __future__ import annotations

import uuid

from halo.http.request_ids import new_request_id


def test_a_new_request_id_is_a_canonical_random_uuid() -> None:
    ids = [new_request_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    for request_id in ids:
        parsed = uuid.UUID(request_id)
        assert str(parsed) == request_id  # 8-4-4-4-12, lower-case hex
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
