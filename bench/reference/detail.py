"""Reference floor: a straightforward detail endpoint on bare Sanic + asyncpg + redis.

No ORM, no middleware, no cache: the video row from PostgreSQL and its
engagement from Redis, fetched concurrently and merged, as the seed design
describes. Reads the same tables and keys as HALO.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import asyncpg
import orjson
from redis.asyncio import Redis
from sanic import Sanic
from sanic.request import Request
from sanic.response import HTTPResponse

app = Sanic("reference_detail")
app.config.ACCESS_LOG = False

QUERY = (
    "SELECT id, user_id, title, description, thumbnail_url, stream_url, is_live, is_adult_content, "
    "view_count, like_count, comment_count, created_at, updated_at FROM videos WHERE id = $1"
)


@app.before_server_start
async def connect(app: Sanic) -> None:
    app.ctx.db = await asyncpg.create_pool(os.environ["DATABASE_URL"], min_size=4, max_size=20)
    app.ctx.redis = Redis.from_url(os.environ["REDIS_URL"])


@app.after_server_stop
async def close(app: Sanic) -> None:
    await app.ctx.db.close()
    await app.ctx.redis.aclose()


async def engagement(redis: Redis, video_id: int) -> list[Any]:
    async with redis.pipeline(transaction=False) as pipe:
        pipe.hmget(f"halo:{{v:{video_id}}}:c", "l", "c")
        pipe.zcard(f"halo:{{v:{video_id}}}:p")
        pipe.hget("halo:{views}:pending", str(video_id))
        return await pipe.execute()


@app.get("/videos/<video_id:int>")
async def detail(request: Request, video_id: int) -> HTTPResponse:
    row, (counters, live, pending) = await asyncio.gather(
        request.app.ctx.db.fetchrow(QUERY, video_id), engagement(request.app.ctx.redis, video_id)
    )
    if row is None:
        return HTTPResponse(b'{"error":"not_found"}', status=404, content_type="application/json")
    video = dict(row)
    likes, comments = counters
    video["like_count"] = int(likes) if likes is not None else video["like_count"]
    video["comment_count"] = int(comments) if comments is not None else video["comment_count"]
    video["view_count"] += int(pending or 0)
    video["live_viewers"] = live
    return HTTPResponse(orjson.dumps(video, option=orjson.OPT_UTC_Z), content_type="application/json")


if __name__ == "__main__":
    workers = int(os.environ.get("WORKERS", "1"))
    app.run(
        host="127.0.0.1",
        port=int(os.environ["PORT"]),
        workers=workers,
        single_process=workers == 1,
        access_log=False,
        motd=False,
    )
