"""Reference ceiling: Sanic's JSON hello, nothing else (no middleware, no logging)."""

from __future__ import annotations

import os

from sanic import Sanic
from sanic.request import Request
from sanic.response import HTTPResponse, json

app = Sanic("reference_hello")
app.config.ACCESS_LOG = False


@app.get("/hello")
async def hello(request: Request) -> HTTPResponse:
    return json({"hello": "world"})


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
