"""Secrets that must never sign production tokens: published ones, and guessable ones.

`PUBLISHED` holds the SHA-256 digests of every `JWT_SECRET` value that has
appeared in this repository (compose files, overlays, chart CI values, docs,
tests, its history). Only digests ship, never the values.
tests/unit/test_published_secrets.py greps the repository for such values and
fails, printing the digest to add here, when one is missing.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Hashable, Sequence
from itertools import pairwise

MIN_SECRET_BITS = 128

PUBLISHED = frozenset(
    {
        "4fd7cea341a5e0e0424c854d74ad5d6a02ac711d85f18fbef62964ca9ecad8d6",  # config.py: development default
        "173e128a4393799969f4433d694f3ee2769435ee7c6e4b754e6eaec2d1ea8952",  # docker-compose.yml (history)
        "2a756e7043c58fbbef1a56347556a4747ab1332b51fb7736052fcbd6de22b0b8",  # k8s dev overlay
        "1cf4ba082142855ed59863dc9efad40963d9eefbff9030514ac2efb26977fc2c",  # chart CI values
    }
)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def is_published(secret: str) -> bool:
    return digest(secret) in PUBLISHED


def estimated_bits(secret: str) -> float:
    """A rough upper bound on the secret's entropy: Shannon's estimate over its characters, and over
    the steps between neighbours (so `abcdef...` and `abab...` count as little as `aaaa...`)."""
    if len(secret) < 2:
        return 0.0
    steps = [ord(b) - ord(a) for a, b in pairwise(secret)]
    return min(_shannon(list(secret)), _shannon(steps) * len(secret) / len(steps))


def _shannon(items: Sequence[Hashable]) -> float:
    total = len(items)
    counts = Counter(items).values()
    return -sum(n / total * math.log2(n / total) for n in counts) * total
