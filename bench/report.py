"""bench/RESULTS.md and bench/detail-concurrency.png from bench/run.py's measurements."""

from __future__ import annotations

import datetime
import statistics
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

LABELS = {
    "health_live": "`GET /health/live`",
    "api_root": "`GET /api/v1` (trivial JSON, whole middleware stack)",
    "detail_warm": "`GET /api/v1/videos/{id}` warm, anonymous",
    "detail_token_warm": "`GET /api/v1/videos/{id}` warm, with a token",
    "detail_cold": "`GET /api/v1/videos/{id}` over all 100k ids",
    "list_first_page": "`GET /api/v1/videos?limit=20` (first page)",
    "list_first_page_token": "`GET /api/v1/videos?limit=20` (first page) with a token: `viewer` on each item",
    "batch_50_ids": "`GET /api/v1/videos?ids=…` (50 ids, warm)",
    "list_deep_page": "`GET /api/v1/videos?limit=20&cursor=…` (5,000 deep)",
    "views": "`POST /api/v1/videos/{id}/views`",
    "like": "`PUT /api/v1/videos/{id}/like` (49 users)",
    "login": "`POST /api/v1/auth/login` (bcrypt cost 12, 16 connections)",
    "ref_hello": "reference: bare Sanic JSON hello",
    "ref_detail": "reference: bare Sanic + asyncpg + redis detail",
    "ref_gin_detail": "reference: Go + Gin + lib/pq + redigo detail (the seed's stack)",
}

# Measured while building the fast path (BENCH_QUICK-style runs by hand, same machine,
# HALO pinned to core 0 and wrk to core 1: `taskset -c 1 wrk -t1 -c64 -d8s -s detail.lua`,
# profiles with `py-spy record -r 400 --nonblocking -f raw` on the serving process;
# instruction counts with `valgrind --tool=callgrind` on the serving process,
# `callgrind_control -z` after a warm-up, `wrk -t1 -c16 -d10s`, `callgrind_control -d`).
HISTORY = """\
| step | detail warm (1 worker) | what the profile showed, and what was done |
| --- | --- | --- |
| first cut | ~1,000 req/s (floor ~1,650 on the busy machine then) | every detail read PostgreSQL through Tortoise (`execute_query_dict`, 17% of the loop) and asyncpg's reset on release (`SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`, 5.5%), then Redis through a redis-py pipeline of two scripts (21%); the access log line went through `logging` with a flush per line (13%) |
| per-worker metadata cache, invalidated through Redis pub/sub | ~2,750 (floor ~2,700) | the warm path has no PostgreSQL round trip; Redis: 26% (pipeline, closures, connection health checks) |
| one script per read (`READ_ALL`, one `EVALSHA`, no pipeline), no per-command health check | ~2,950 | redis-py call path down to one command |
| access log written as the JSON line directly (same line, no LogRecord), buffered stdout flushed every 200 ms, no caller/thread/process lookups in `logging` | ~3,800–3,950 (floor ~2,770) | metrics 3%, access log 5% |
| no pool reset round trip (connections carry no session state), UUID4 request ids from the fast generator, `Sanic.serve_single` for one worker (no manager process, no hop) | ~2,600–3,200 on later, noisier runs (floor ~2,050–2,400) | Sanic's own request parsing and response writing, redis-py's command path |
| response header values checked with `in` before Sanic's per-character `str.translate` (same result); `EVALSHA` sent through `execute_command`, skipping redis-py's deprecated-argument wrapper on `evalsha()` | `GET /api/v1` (1 worker): ~9,200 → ~10,500 req/s back to back | the header check was 23% of the loop on the trivial route (py-spy, inclusive), the wrapper's `_get_filterable_args` 4% of the detail path |
| engagement reads asked for in the same event-loop turn coalesced into one `READ_ALL` call (`halo/engagement/coalesce.py`): under load dozens of detail requests share one pool checkout, one round trip and one parse | ~3,400 → ~6,600 req/s back to back (floor ~2,500): 2.6–2.8× the floor | redis-py's per-call path was most of what was left: `Timeout.__aenter__` 7.4%, the pool's `get_connection` 7.4%, `execute_command` 4.9%, the store's `read` and `_eval` 7% |
| trivial route: the response head made as one string, checked by three scans for CR, LF and NUL and encoded once (Sanic's bytes exactly); the access line from pieces kept per (method, route); routes with nothing to check not wrapped; the rate-limit verdict a named tuple | `GET /api/v1`: 318k → 274k instructions a request (callgrind; bare hello 199k) | each response header our middleware adds cost ~9k instructions in Sanic's header path (measured by leaving steps out one at a time); the access line ~26k |
| authenticated requests: the callers' state (`users WHERE id = ANY(…)`) and the revocation cache (one pipeline) read once per event-loop turn for every request in it (the read coalescer); a token that passed every check remembered per worker (10,000) and then only checked for expiry | warm detail with a token, 1 worker, back to back: ~1,760 → ~3,900 → ~5,600 req/s | the profile of the token path: a PostgreSQL query and a Redis pipeline per request, then PyJWT (header and payload parsing, HMAC key preparation, claim checks) 23% of the loop |
| list pages: video rows built from asyncpg's records by position instead of a dict and a keyword call each | `GET /api/v1/videos?limit=20`: 4.36M → 3.27M instructions a request (callgrind, as above); a 21-row page built in 33 µs instead of 96 µs (timed alone); req/s back to back within this VM's noise (PostgreSQL's backends share the server's core) | py-spy attributed ~45% of the loop on the first list page to the row building and the driver's dict per row; timed alone they were 96 µs of a ~550 µs request |
| bcrypt's threads at a lower CPU priority than the event loop (`BCRYPT_NICENESS`, 10): bcrypt releases the GIL, so the two compete for a core, and a woken loop waited out a hash's time slice | `/health/live` p99 while 20 logins run, 2 workers, staggered open loop at 200 req/s, three runs each: 6.4, 7.6, 6.9 ms → 3.5, 2.9, 4.4 ms | left out again after measuring: a request pipeline that returns without a coroutine when no step has I/O (Sanic's `isawaitable(None)` on the result costs as much as the coroutine it saves; 268k vs 272k instructions, within the noise); what is left on the trivial route, by leaving steps out one at a time (callgrind, 267.6k a request): the access line 24k, the two `RateLimit-*` headers 13k, the request id 9.5k, metrics 8.4k, `X-Content-Type-Options` 5.6k |
| architecture round (2026-12-03): sanic-ext for OpenAPI, validation and CORS; the speed tricks fenced in `halo/http/fastpath/` behind `FAST_PATH`; v1.1 contract (ETags, `Idempotency-Key`, IETF rate-limit headers, `viewer.liked`, counted views, comment threads) | `make bench-round` (bench/ROUND.md, same run, 1 worker, median of 6 pairs): warm detail now ÷ round start 0.86 (1.91× the floor), with a token 0.84, `GET /api/v1` 0.91 (0.80× hello); `FAST_PATH` on ÷ off: detail 1.23, `GET /api/v1` 1.33; a 304 ÷ the 200 of the same video 1.09 | sanic-ext's CORS response hook measured 3.4 µs a request without `Origin`, 14.8 µs with one (in-process microbenchmark, best of 7), about 5% of the trivial route: the two hot routes keep a lean CORS step with the same headers; the ETag costs 2.4 µs on the detail read (about 1%, `bench/etag.py`); the rest of the detail read's 14% is not yet broken down (candidates: the three response headers the contract added, `ETag`, `RateLimit-Policy`, `RateLimit`, and for a token the `viewer.liked` read) |
| the round's second session (2026-12-03): `viewer.liked` from Redis (each user's like state cached beside the counters, in the same script call); workers freeze what start-up built and collect young objects every 10,000 allocations instead of 700 (`gc.freeze`, `gc.set_threshold`) | instructions a request (`bench/instructions.py`, callgrind, warm detail, 16 concurrent clients): round start 487k; before the collector change 643k (+32%: the v1.1 headers, ETag, sanic-ext, the access line and request-id changes, spread thin); with it 537k; with a token, before the collector change: round start 1.96M, 1.21M | the collector's passes over the start-up objects (the app, routes, schemas, the OpenAPI document) were about a sixth of the warm detail read; what is left of the gap to the round start has no single owner (py-spy: ETag 1.8%, the added response headers ~1.5%, the access line 1.5%, the request id 0.6%) |
| the round's last session (2026-12-03, evening): a video's ETag spelled out (change time as integer microseconds, no float repr, no hash); Redis commands packed by hiredis in redis-py's asyncio connection (fast path); the rows, snapshots, counters and views made on every read as `@value` classes (frozen to mypy, plain slots dataclasses at run time) | warm detail, anonymous, now ÷ round start (`ROUND_ONLY=a,d ROUND_ROUNDS=10`, both sides' rows kept for the run): 0.76 → 0.92; first list page ÷ warm detail (section d): 0.46 → 0.54–0.59; Python lines a detail request ran (`sys.settrace` under wrk): 1,000 → 861 (round start 859); instructions with cache simulation (`bench/instructions.py --cache-sim --rev 871217a`): 582k against the start's 566k | redis-py's `pack_command` was 72 of the 850 lines a request and 57 µs a 64-argument `EVALSHA`; frozen dataclass construction 1.2 µs a snapshot against 0.25 µs; the ETag's float repr 1 µs a video; what remains (about 8% of user CPU) is spread over the v1.1 per-response work |
| the round's session of 2026-12-07: response heads format each header name once (multidict's `istr` names made the f-string a third of the head's cost); `make bench-round` section a counterbalanced (floor and hello first, each now/base two swapped every other round) and warmed with the token too | `ROUND_ONLY=a ROUND_ROUNDS=12` on a quieter machine (floor steady near 1,950 req/s): warm detail anonymous now ÷ start 0.86 (pairs 0.79–1.02; 2.37× the floor against the start's 2.75×), with a token 0.98, `GET /api/v1` 0.94; CPU a warm anonymous read (`/proc` of the worker over 8 s wrk runs, two each): now 189–200 µs, start 164–181 µs; redis-server 13–17 µs on both | the gap is user CPU on the event loop's thread (no other thread works; system time 31 µs against 27 µs); Redis does the same work a request but one `GET` (the lists mark); a young-collection threshold of 700 instead of 10,000 moved nothing beyond the noise; the same CPU measure along the round's commits (one database, a Redis database each, rotating order): start 172 µs, 5ddf8ca 177–180, c87075f (ETag and 304, `Vary`, `RateLimit`/`RateLimit-Policy`, automatic HEAD) 212–218, d68631a 203, today 188; today's build without the tag and the two rate-limit fields (switched off for the measure only) 177 against 187 µs, without automatic HEAD no change |
| the session of 2026-12-08: the live-socket caps and (with `RATE_LIMIT_BACKEND=local`) the rate-limit buckets counted per instance across its workers, in shared memory; `REPLICA_PRIMARY_READ_SHARE`; the replicas section's PostgreSQL-bound page | the `make bench` of 2026-12-08 01:30 UTC (an Intel VM): warm detail ÷ floor 1.81 (1 worker) and 1.76 (2), ÷ Gin 0.36 and 0.41; a PostgreSQL-bound page with a replica sharing the reads, each database on a core of its own: 1.46× the primary alone (1.47× in the section's own run at 00:38) | a token from the instance's buckets costs 1.8 µs against 0.8 µs from a worker's own (`timeit`, best of 5 × 100,000), on instances of more than one worker only; before, two workers let 16 requests of a burst of 8 through at once, and refused a client's third live socket of three |
| the session of 2026-12-08, morning: a PostgreSQL worker no longer loads SQLite's driver and backend nor the migration tool; the /docs assets read when asked for (Redoc's bundle is 1.1 MB); redis-py's asyncio `Retry` (the synchronous one made it warn, and load its source file, at every start) | this `make bench` (2026-12-08 03:54 UTC, the AMD VM): idle RSS 75.6 MB (1 worker), 76.4 MB (2), against 79.4 and 80.0–80.1 MB measured just before on the same machine | found with `/proc/<pid>/smaps` and tracemalloc in a started worker: module code is most of the heap; what was left out was loaded for nothing on PostgreSQL |
"""


def write_report(results: dict[str, Any], machine: dict[str, str]) -> None:
    lines: list[str] = []
    add = lines.append
    add("# HALO benchmark results\n")
    add(
        f"Generated by `make bench` on {results.get('finished_at') or f'{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M}'} UTC "
        f"in {results.get('elapsed_seconds', 0) / 60:.1f} min.\n"
    )
    add("## Machine\n")
    for key, value in machine.items():
        add(f"- {key}: {value}")
    add("")
    add("## How it was measured\n")
    add(
        "- `make bench` runs `bench/run.py`: it creates a fresh database on the local PostgreSQL and starts its "
        "own redis-server, runs `halo migrate` and `halo seed --users 10000 --videos 100000` "
        f"({results.get('seed_seconds', 0):.1f} s), then starts HALO (`halo serve`, production settings: "
        "JSON access log on, metrics on, tracing off, rate limiter on with a limit too high to trigger) "
        "and the references from `bench/reference/` with the same worker count: a bare Sanic hello, the "
        "same detail read on bare Sanic + asyncpg + redis (the floor) and on the seed's own stack, Go + Gin "
        "(`bench/reference/gin/main.go`: lib/pq and redigo, row and counters read per request as the floor "
        "does, HALO's response body; built offline from Debian's packages, Gin in release mode without a "
        "request log; `GOMAXPROCS` = the worker count, one process)."
    )
    add(
        "- Closed loop: `wrk -t1 -c64 -d10s --timeout 10s -s bench/lua/<script>.lua` after a 3 s warm-up, "
        "exact percentiles printed by `bench/lua/report.lua`. Before the warm measurements, sequential passes "
        "over the 10,000 hot ids (`SEQUENTIAL=1`) put them in every worker's cache (HALO) and in the floor's "
        "PostgreSQL buffers alike. "
        "With 1 worker the servers are pinned to core 0 (`taskset -c 0`) and wrk to core 1; with 2 workers "
        "everything shares both cores, load generator included (2-core machine)."
    )
    add(
        "- Open loop: `h2load --h1 -c32 -t1 --rps N/32 -r 1 --rate-period 1ms -n 10·N --log-file …` at half "
        "the measured saturation throughput N (10 s); percentiles from the per-request log. `--rps` is per "
        "connection and starts when the connection is made; `-r 1 --rate-period 1ms` makes one connection "
        "a millisecond, so the 32 connections' ticks are spread over the 32/N s period and the arrivals "
        "approach a constant rate. For comparison, the same rate with all 32 connections made at once "
        "(`-D 10` instead of `-r`/`-n`): then the load arrives as a burst of 32 requests every 32/N s and "
        "the p99 is roughly the time to serve one burst. Latency is timed from when h2load sends, so a "
        "request it holds back behind a "
        "slow one on the same connection is not counted from its intended time."
    )
    add(
        "- Target ratios: after the table's single pass, six rounds of back-to-back pairs (floor, HALO and "
        "Gin detail, hello and `GET /api/v1`, 6 s each; each reference before HALO in every other round, "
        "so that a drift within a pair favours neither); the median of the six ratios decides. The machine is a shared "
        "2-core VM whose speed drifts by tens of percent between measurements a minute apart. Changes to "
        "the trivial route were judged by instructions a request instead (valgrind's callgrind on the "
        "serving process, counters zeroed after a warm-up, `wrk -c16` for 10 s, idle background subtracted), "
        "which repeat to within about 2%: bare hello 199k, `GET /api/v1` 318k before this round of work, "
        "274k after."
    )
    add(
        "- Warm detail: random ids among the first 10,000 videos (5% are adult content and answer 404 to "
        "anonymous callers, which the error columns count as non-2xx); cold detail: random ids among all 100,000."
    )
    add("")
    for workers, data in sorted(results["workers"].items(), key=lambda item: int(item[0])):
        endpoints = data["endpoints"]
        hello, floor = endpoints["ref_hello"]["rps"], endpoints["ref_detail"]["rps"]
        add(f"## {workers} worker{'s' if int(workers) > 1 else ''}\n")
        add(f"Servers on cores: {data['server_cpus']}; wrk on cores: {data['client_cpus']}.\n")
        gin = endpoints.get("ref_gin_detail", {}).get("rps")  # None: a run from before the Gin reference
        add(
            "| endpoint | req/s | p50 ms | p95 ms | p99 ms | errors | non-2xx | × hello | × floor |"
            + (" × Gin |" if gin else "")
        )
        add("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |" + (" ---: |" if gin else ""))
        for name, label in LABELS.items():
            if name not in endpoints:
                continue
            r = endpoints[name]
            add(
                f"| {label} | {r['rps']:,.0f} | {r['p50']:.2f} | {r['p95']:.2f} | {r['p99']:.2f} | {r['errors']} | "
                f"{r['non2xx']} | {r['rps'] / hello:.2f} | {r['rps'] / floor:.2f} |"
                + (f" {r['rps'] / gin:.2f} |" if gin else "")
            )
        add("")
        open_loop, floor_open = data["detail_open_loop"], data["ref_detail_open_loop"]
        live = data["live_during_logins"]
        detail_ratio = endpoints["detail_warm"]["rps"] / floor
        root_ratio = endpoints["api_root"]["rps"] / hello
        paired = data.get("paired") or []
        detail_pairs = sorted(row["detail_warm"] / row["ref_detail"] for row in paired)
        root_pairs = sorted(row["api_root"] / row["ref_hello"] for row in paired)
        detail_note = root_note = ""
        if paired:  # the medians of back-to-back pairs decide; the single table run is shown beside
            detail_note = (
                f" (median of {len(paired)} back-to-back pairs: "
                f"{', '.join(f'{r:.2f}' for r in detail_pairs)}; table above: {detail_ratio:.2f}×)"
            )
            root_note = (
                f" (median of {len(paired)} back-to-back pairs: "
                f"{', '.join(f'{r:.2f}' for r in root_pairs)}; table above: {root_ratio:.2f}×)"
            )
            detail_ratio = statistics.median(detail_pairs)  # of an even count: the middle two's mean
            root_ratio = statistics.median(root_pairs)
        add("| target | measured | |")
        add("| --- | --- | --- |")
        add(
            f"| detail (warm) ≥ 1.5× the floor | {detail_ratio:.2f}×{detail_note} | "
            f"{'met' if detail_ratio >= 1.5 else 'NOT met'} |"
        )
        if gin:
            gin_ratio = endpoints["detail_warm"]["rps"] / gin
            gin_pairs = sorted(
                row["detail_warm"] / row["ref_gin_detail"] for row in paired if "ref_gin_detail" in row
            )
            gin_note = ""
            if gin_pairs:
                gin_note = (
                    f" (median of {len(gin_pairs)} back-to-back pairs: "
                    f"{', '.join(f'{r:.2f}' for r in gin_pairs)}; table above: {gin_ratio:.2f}×)"
                )
                gin_ratio = statistics.median(gin_pairs)
            add(
                f"| detail (warm) ≥ 1.0× Go + Gin, the seed's stack | {gin_ratio:.2f}×{gin_note} | "
                f"{'met' if gin_ratio >= 1.0 else 'NOT met'} |"
            )
        add(
            f"| detail p99 ≤ 10 ms at half its saturation rate (open loop, {open_loop['rate']:,.0f} req/s) | "
            f"{open_loop['p99']:.2f} ms (p50 {open_loop['p50']:.2f}, {open_loop['requests']} requests) | "
            f"{'met' if open_loop['p99'] <= 10 else 'NOT met'} |"
        )
        burst = data.get("detail_open_loop_burst")
        if burst:
            add(
                f"| the same rate in bursts of 32 (every connection's timer started at once, see above) | "
                f"{burst['p99']:.2f} ms (p50 {burst['p50']:.2f}, {burst['requests']} requests) | |"
            )
        add(
            f"| the floor at half its own saturation ({floor_open['rate']:,.0f} req/s), for comparison | "
            f"p99 {floor_open['p99']:.2f} ms | |"
        )
        add(
            f"| trivial JSON route through all middleware ≥ 0.6× hello | {root_ratio:.2f}×{root_note} | "
            f"{'met' if root_ratio >= 0.6 else 'NOT met'} |"
        )
        add(
            f"| `/health/live` p99 ≤ 10 ms while 20 logins run ({live['rate']} req/s open loop) | "
            f"{live['p99']:.2f} ms (max {live['max']:.2f}) | {'met' if live['p99'] <= 10 else 'NOT met'} |"
        )
        worst_idle = max(data["idle_rss_mb"])
        add(
            f"| idle RSS ≤ 80 MB per worker | {', '.join(f'{m:.1f}' for m in data['idle_rss_mb'])} MB "
            f"(after the run: {', '.join(f'{m:.1f}' for m in data['active_rss_mb'])} MB) | "
            f"{'met' if worst_idle <= 80 else 'NOT met'} |"
        )
        add("")
    connections = results.get("connections")
    if connections:
        add("## 10,000 concurrent keep-alive connections (1 worker)\n")
        add(
            f"{connections['held']:,} of {connections['target']:,} connections opened, each answered once and held "
            f"open; meanwhile `/health/live` answered {connections['live_answers']} of 50 times "
            f"(p50 {connections['live_p50_ms']:.2f} ms, max {connections['live_max_ms']:.2f} ms). "
            f"Worker RSS holding them: {', '.join(f'{m:.1f}' for m in connections['rss_mb'])} MB. "
            "The benchmark raises its own and the server's file limit (`RLIMIT_NOFILE`), not the system's.\n"
        )
    live = results.get("websockets")
    if live:
        budget_kib = 64
        delay = live["like_to_message_ms"]
        add(f"## {live['sockets']:,} live WebSockets on one worker\n")
        add(
            f"{live['sockets']:,} sockets on `GET /api/v1/videos/{{id}}/live`, spread over {live['videos']} videos, "
            f"each read by the bench client. Worker RSS: {live['idle_rss_mb']:.1f} MB before, "
            f"{live['open_rss_mb']:.1f} MB with them open: **{live['per_socket_kib']:.1f} KiB per socket** "
            f"(budget {budget_kib} KiB per socket, i.e. {budget_kib} MB per 1,000: "
            f"{'met' if live['per_socket_kib'] <= budget_kib else 'NOT met'}).\n"
        )
        add(
            f"- A like on each of the {live['videos']} videos at once: all {live['fan_out_messages']:,} messages "
            f"read after {live['fan_out_ms']:.0f} ms (likes sent to last message read)."
        )
        add(
            f"- Like to message on a socket of that video (PUT sent → message read, one worker, "
            f"{delay['samples']} likes 0.4 s apart): p50 {delay['p50']} ms, max {delay['max']} ms. "
            "Changes closer together than `LIVE_UPDATE_INTERVAL_SECONDS` (0.25 s) are coalesced, so "
            "under a burst a change waits up to that long more.\n"
        )
    invalidation = results.get("invalidation_ms")
    if invalidation:
        add("## Cache invalidation between instances\n")
        add(
            f"Two instances (1 worker each) sharing PostgreSQL and Redis: after a `PATCH` on one, the other served "
            f"the new title after {invalidation['p50']:.1f} ms (median of {invalidation['samples']}, "
            f"max {invalidation['max']:.1f} ms), through Redis pub/sub.\n"
        )
    tracing = results.get("tracing")
    if tracing and "ratios" in tracing:
        off = tracing["off"]
        add("## Tracing cost (detail warm, 1 worker)\n")
        add("| tracing | req/s | cost | CPU µs a request | CPU cost | p50 ms | p99 ms | spans received |")
        add("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        add(
            f"| off (no tracer provider) | {off['rps']:,.0f} | | {off['cpu_us']:.0f} | | {off['p50']:.2f} | "
            f"{off['p99']:.2f} | |"
        )
        for ratio, on in tracing["ratios"].items():
            add(
                f"| {tracing['sampler']} {ratio} | {on['rps']:,.0f} | {on['cost_pct']:.0f}% | {on['cpu_us']:.0f} | "
                f"{on['cpu_cost_pct']:.0f}% | {on['p50']:.2f} | {on['p99']:.2f} | "
                f"{on['spans_received']:,} of {on['requests']:,} requests |"
            )
        add(
            "\nOn: batch span processor, OTLP/HTTP to a local collector; each request starts a trace (no "
            "`traceparent`), so the ratio alone decides; at 0 the sampler drops every request, which is the "
            "cost of an unsampled request. "
            "Cost: throughput lost against off; CPU cost: the same from the worker's CPU time a request "
            f"(export thread included); each the median of {tracing['rounds']} rounds, a round measuring "
            "off before and after each ratio (a ratio against the mean of the two off runs beside it). "
            "Targets: an unsampled request (ratio 0) under 5%, ratio 0.1 under 15%.\n"
        )
    elif tracing:
        off, on = tracing["off"], tracing["on"]
        add("## Tracing cost (detail warm, 1 worker)\n")
        add("| tracing | req/s | p50 ms | p99 ms |")
        add("| --- | ---: | ---: | ---: |")
        add(f"| off (no tracer provider) | {off['rps']:,.0f} | {off['p50']:.2f} | {off['p99']:.2f} |")
        add(
            f"| on: sampler always_on, batch span processor, OTLP/HTTP to a local collector | {on['rps']:,.0f} | "
            f"{on['p50']:.2f} | {on['p99']:.2f} |"
        )
        add(
            f"\nOverhead: {100 * (1 - on['rps'] / off['rps']):.0f}% throughput "
            f"({tracing['spans_received']} export requests received by the collector).\n"
        )
    replicas = results.get("replicas")
    if replicas:
        rps, reads = replicas["rps"], replicas["reads_by_pool"]
        served = reads.get("replica0", 0.0) / max(sum(reads.values()), 1.0)
        add("## List pages with a read replica (2 workers)\n")
        add("| PostgreSQL | req/s (median) |")
        add("| --- | ---: |")
        add(f"| a throwaway primary alone | {rps['primary']:,.0f} |")
        add(f"| the same primary and one streaming replica of it | {rps['replica']:,.0f} |")
        add(
            f"\n`GET {replicas['path']}` (a page read from PostgreSQL on every request: the first page in "
            f"view-count order is not cached), 2 workers on both cores, wrk on the same cores; the primary and "
            f"the replica (`pg_basebackup -R`) are throwaway servers on this machine. With the replica: "
            f"{replicas['ratio']:.2f}× the primary alone (median of {len(replicas['rounds'])} back-to-back "
            f"pairs); the replica served {100 * served:.0f}% of that instance's reads.\n"
        )
        bound = replicas.get("database_bound")
        if bound:
            pools = bound["reads_by_pool"]
            share = pools.get("replica0", 0.0) / max(sum(pools.values()), 1.0)
            add("**When PostgreSQL is the bound**, each database on a core of its own:\n")
            add("| PostgreSQL | req/s (median) |")
            add("| --- | ---: |")
            add(f"| the primary alone (CPU 0) | {bound['rps']['primary']:,.0f} |")
            add(
                f"| the primary (CPU 0) and the replica (CPU 1) sharing the reads | {bound['rps']['shared']:,.0f} |"
            )
            add(
                f"\n`GET {bound['path']}` (a title search in title order: PostgreSQL reads and sorts every "
                f"match), 2 workers and wrk on either core; the primary's processes pinned to CPU 0 and the "
                f"replica's to CPU 1, as on hosts of their own, and `REPLICA_PRIMARY_READ_SHARE=0.5`. With the "
                f"replica: **{bound['ratio']:.2f}×** the primary alone (median of {len(bound['rounds'])} "
                f"back-to-back pairs); the replica served {100 * share:.0f}% of the reads.\n"
            )
    sweep = results.get("sweep")
    if sweep:
        add("## Detail (warm) against concurrency, 1 worker\n")
        add("![throughput and p99 against concurrency](detail-concurrency.png)\n")
        add("| connections | HALO req/s | HALO p99 ms | floor req/s | floor p99 ms |")
        add("| ---: | ---: | ---: | ---: | ---: |")
        for halo, floor in zip(sweep["halo"], sweep["floor"], strict=True):
            add(
                f"| {halo['connections']} | {halo['rps']:,.0f} | {halo['p99']:.2f} | {floor['rps']:,.0f} | "
                f"{floor['p99']:.2f} |"
            )
        add("")
        _plot(sweep)
    profile = results.get("profile")
    add("## Profile of the detail endpoint\n")
    if profile:
        add(
            "Where the event loop's thread spent its time under the warm detail load, after the work below "
            "(`py-spy record -r 400 --nonblocking -f raw`, own time of the innermost frame):\n"
        )
        add("| share | frame |")
        add("| ---: | --- |")
        for frame, share in profile:
            add(f"| {share}% | `{frame}` |")
        add("")
    add(
        "How the detail endpoint got here (each step measured by hand on this machine, see the table's header "
        "in `bench/report.py` for the commands):\n"
    )
    add(HISTORY)
    (HERE / "RESULTS.md").write_text("\n".join(lines) + "\n")


def _plot(sweep: dict[str, list[dict[str, Any]]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, throughput = plt.subplots(figsize=(8, 4.5))
    latency = throughput.twinx()
    for key, color, label in (
        ("halo", "tab:blue", "HALO"),
        ("floor", "tab:gray", "bare Sanic+asyncpg+redis"),
    ):
        points = sweep[key]
        x = [p["connections"] for p in points]
        throughput.plot(x, [p["rps"] for p in points], marker="o", color=color, label=f"{label} req/s")
        latency.plot(
            x, [p["p99"] for p in points], marker="x", linestyle="--", color=color, label=f"{label} p99"
        )
    throughput.set_xscale("log", base=2)
    throughput.set_xlabel("concurrent connections (wrk)")
    throughput.set_ylabel("requests / second")
    latency.set_ylabel("p99 latency (ms)")
    latency.set_yscale("log")
    handles = throughput.get_legend_handles_labels()[0] + latency.get_legend_handles_labels()[0]
    figure.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.1, 0.88), fontsize=8)
    throughput.set_title("GET /api/v1/videos/{id} (warm), one worker")
    figure.tight_layout()
    figure.savefig(HERE / "detail-concurrency.png", dpi=110)
