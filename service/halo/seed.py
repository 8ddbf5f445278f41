"""`halo seed`: demo and benchmark data, fast.

N users (one password hash reused for all: `password123`), N videos spread
over the past year with a long-tailed view distribution, likes and comments
as real rows with counters that match them, and the same engagement cached in
Redis (or the in-process store). 100k videos take seconds on PostgreSQL.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from tqdm import tqdm

from halo.config import Settings
from halo.db import database
from halo.engagement.redis_store import RedisEngagementStore
from halo.engagement.store import Counters
from halo.redis.link import link_for
from halo.repositories.bulk import COMMENT_COLUMNS, LIKE_COLUMNS, USER_COLUMNS, VIDEO_COLUMNS, BulkLoader
from halo.security.passwords import PasswordHasher

SEED_PASSWORD = "password123"  # noqa: S105 - documented demo password of seeded users
CHUNK = 5000

_ADJECTIVES = [
    "Sunny",
    "Quiet",
    "Epic",
    "Tiny",
    "Golden",
    "Frozen",
    "Wild",
    "Neon",
    "Hidden",
    "Lazy",
    "Ünïque",
]
_NOUNS = ["sunset", "mountain", "kitchen", "robot", "city", "forest", "guitar", "ocean", "garden", "train"]
_KINDS = [
    "timelapse",
    "tutorial",
    "vlog",
    "review",
    "live session",
    "highlights",
    "walkthrough",
    "100% raw cut",
]
_COMMENTS = ["Love this!", "First 🎉", "How did you film that?", "Subscribed.", "Again please", "Wow", "😂😂"]


def _title(rng: random.Random, n: int) -> str:
    return f"{rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)} {rng.choice(_KINDS)} #{n}"


async def run_seed(settings: Settings, *, users: int, videos: int, seed: int = 42) -> int:
    """Insert the data and print a summary; returns the process exit code."""
    if users < 1 or videos < 0:
        print("halo seed: --users must be at least 1 and --videos not negative")
        return 2
    rng = random.Random(seed)  # noqa: S311 - demo data, not secrets
    tag = uuid.uuid4().hex[:6]
    now = datetime.now(UTC)
    await database.open_orm(settings, pool_max=4)
    try:
        loader = BulkLoader()
        password_hash = PasswordHasher(settings.bcrypt_rounds, threads=1).hash_sync(SEED_PASSWORD)
        progress = tqdm(total=users + videos, unit="rows", desc="users+videos", dynamic_ncols=True)

        user_ids = await loader.reserve_ids("users", users)
        adults: list[int] = []
        for start in range(0, users, CHUNK):
            rows = []
            for offset, user_id in enumerate(user_ids[start : start + CHUNK]):
                n = start + offset
                is_adult = rng.random() < 0.2
                if is_adult:
                    adults.append(user_id)
                created = now - timedelta(days=400, seconds=rng.randrange(30 * 86400))
                rows.append(
                    (
                        user_id,
                        f"seed-{tag}-{n}@example.com",
                        f"seed_{tag}_{n}",
                        password_hash,
                        f"Seed User {n}",
                        None,
                        None,
                        is_adult,
                        is_adult and rng.random() < 0.5,
                        created,
                        created,
                    )
                )
            await loader.insert("users", USER_COLUMNS, rows)
            progress.update(len(rows))

        video_ids = await loader.reserve_ids("videos", videos)
        counters: list[tuple[int, Counters]] = []
        live_videos: list[int] = []
        for start in range(0, videos, CHUNK):
            video_rows: list[tuple[Any, ...]] = []
            like_rows: list[tuple[Any, ...]] = []
            comment_rows: list[tuple[Any, ...]] = []
            for offset, video_id in enumerate(video_ids[start : start + CHUNK]):
                n = start + offset
                owner = rng.choice(user_ids)
                adult_content = bool(adults) and rng.random() < 0.05
                if adult_content:
                    owner = rng.choice(adults)
                created = now - timedelta(seconds=rng.randrange(365 * 86400))
                likers = rng.sample(user_ids, min(len(user_ids), 500, int(rng.paretovariate(1.5)) - 1))
                commenters = [rng.choice(user_ids) for _ in range(min(200, int(rng.paretovariate(2.0)) - 1))]
                for liker in likers:
                    like_rows.append((video_id, liker, created + timedelta(seconds=rng.randrange(1, 86400))))
                for commenter in commenters:
                    comment_rows.append(
                        (
                            video_id,
                            commenter,
                            rng.choice(_COMMENTS),
                            created + timedelta(seconds=rng.randrange(1, 86400)),
                        )
                    )
                is_live = rng.random() < 0.05
                if is_live:
                    live_videos.append(video_id)
                version = len(likers) + len(commenters)
                video_rows.append(
                    (
                        video_id,
                        owner,
                        _title(rng, n),
                        f"Seeded video number {n}.",
                        f"https://img.example.com/thumbs/{video_id}.jpg",
                        f"https://cdn.example.com/streams/{video_id}/index.m3u8",
                        is_live,
                        adult_content,
                        min(10_000_000, int(rng.paretovariate(1.2) * 10) - 10),
                        0,
                        len(likers),
                        len(commenters),
                        version,
                        created,
                        created,
                    )
                )
                counters.append((video_id, Counters(len(likers), len(commenters), version)))
            await loader.insert("videos", VIDEO_COLUMNS, video_rows)
            await loader.insert("likes", LIKE_COLUMNS, like_rows)
            await loader.insert("comments", COMMENT_COLUMNS, comment_rows)
            progress.update(len(video_rows))
        progress.close()
        await loader.analyze()
        await _cache_engagement(settings, counters, live_videos, rng)
    finally:
        await database.close_orm()
    print(
        f"seeded {users} users (password {SEED_PASSWORD!r}, emails seed-{tag}-N@example.com) "
        f"and {videos} videos with likes and comments"
    )
    return 0


async def _cache_engagement(
    settings: Settings, counters: list[tuple[int, Counters]], live_videos: list[int], rng: random.Random
) -> None:
    """Warm Redis with the same counters, and a few live viewers on live videos."""
    if settings.redis_url is None:
        return  # the in-process store lives in the server's process; it fills itself on first read
    link = link_for(settings)
    try:
        await link.probe()
        store = RedisEngagementStore(link)
        for start in tqdm(range(0, len(counters), CHUNK), desc="redis", unit="chunks", dynamic_ncols=True):
            await store.cache_counters(counters[start : start + CHUNK])
        for video_id in live_videos[:1000]:
            for viewer in range(rng.randrange(1, 20)):
                await store.heartbeat(video_id, f"a:seed-viewer-{viewer:04d}", settings.presence_ttl_seconds)
    finally:
        await link.client.aclose()
