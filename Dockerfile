# syntax=docker/dockerfile:1.7
# HALO API image: dependencies come from requirements.lock (hash-checked) in a
# layer of their own, before the source is copied, so a code change rebuilds
# only the last layers. The runtime is slim Python with no compilers, runs as a
# numeric non-root user and needs no writable root filesystem (mount /tmp, and
# /tmp/halo-metrics for multiprocess metrics).
# Both stages use the same base (so the venv's interpreter path matches),
# pinned by digest; the tag beside it names what the digest is. To refresh it:
# `docker buildx imagetools inspect python:3.11.11-slim-bookworm`.
# Build and push: `make image`, `make push REGISTRY=registry.example.com/team`.
FROM python:3.11.11-slim-bookworm@sha256:081075da77b2b55c23c088251026fb69a7b2bf92471e491ff5fd75c192fd38e5 AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
# Compilers live here only: some dependencies (hiredis, uvloop, asyncpg) may lack a wheel.
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# 1. Dependencies, exactly as locked (`make lock` regenerates the file from pyproject.toml).
COPY requirements.lock ./
RUN python -m venv /opt/halo \
 && /opt/halo/bin/pip install --require-hashes --no-deps -r requirements.lock
# 2. The service itself, built offline against the locked build backend.
COPY pyproject.toml README.md ./
COPY service ./service
COPY migrations ./migrations
RUN /opt/halo/bin/pip install --no-deps --no-index --no-build-isolation . \
 && /opt/halo/bin/pip uninstall -y pip setuptools wheel \
 && find /opt/halo -name '__pycache__' -prune -exec rm -rf {} +

FROM python:3.11.11-slim-bookworm@sha256:081075da77b2b55c23c088251026fb69a7b2bf92471e491ff5fd75c192fd38e5 AS runtime
# Set by `make image` from pyproject.toml and git; the defaults mark a build made by hand.
ARG VERSION=0.0.0-unknown
ARG REVISION=unknown
ARG SOURCE=https://github.com/halo/halo
LABEL org.opencontainers.image.title="halo" \
      org.opencontainers.image.description="HALO video platform API" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.base.name="python:3.11.11-slim-bookworm" \
      org.opencontainers.image.licenses="Proprietary"
# tini is PID 1: it forwards SIGTERM to `halo serve` (which drains and exits 0) and reaps orphans.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 halo \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin halo
COPY --from=builder /opt/halo /opt/halo
ENV PATH="/opt/halo/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TMPDIR=/tmp \
    ENV=production \
    HOST=0.0.0.0 \
    PORT=8000 \
    METRICS_PORT=9464
WORKDIR /app
USER 10001:10001
EXPOSE 8000 9464
STOPSIGNAL SIGTERM
# Orchestrators use their own probes (the chart's); this serves `docker run` and compose.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health/live' % os.environ.get('PORT', '8000'), timeout=2)"]
ENTRYPOINT ["tini", "--", "halo"]
CMD ["serve"]
