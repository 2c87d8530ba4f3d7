# syntax=docker/dockerfile:1
# Ledgergate's image: runtime dependencies only (requirements-runtime.txt, the lock without the dev extra),
# a non-root user, the data directory as a volume, and a health check on /ready.
#   docker build -t ledgergate .
#   docker run -p 4444:4444 -v ledgergate-data:/data ledgergate

# -- build: a virtual environment with the locked runtime dependencies and the gateway's wheel ----------------
ARG PYTHON_IMAGE=python:3.11-slim
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/ledgergate
ENV PATH=/opt/ledgergate/bin:$PATH
WORKDIR /src
COPY requirements-runtime.txt ./
# every package pinned by the lock; --no-deps so nothing unpinned comes along
RUN pip install --no-deps -r requirements-runtime.txt
COPY pyproject.toml README.md ./
COPY domain ./domain
COPY application ./application
COPY infrastructure ./infrastructure
COPY projections ./projections
COPY api ./api
COPY migrations ./migrations
COPY ledgergate ./ledgergate
RUN pip install --no-deps . && pip check

# -- runtime: the environment alone, run as an unprivileged user ---------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="Ledgergate" \
      org.opencontainers.image.description="An MCP gateway and registry whose source of truth is an append-only event log" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 ledgergate \
    && useradd --system --uid 10001 --gid ledgergate --home-dir /data --no-create-home --shell /usr/sbin/nologin ledgergate \
    && mkdir /data && chown ledgergate:ledgergate /data && chmod 0700 /data
COPY --from=build /opt/ledgergate /opt/ledgergate
ENV PATH=/opt/ledgergate/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LEDGERGATE_HOST=0.0.0.0 \
    LEDGERGATE_PORT=4444 \
    LEDGERGATE_DATA_DIR=/data
# Keys: generated into /data on first start, or given as mounted files / variables
# (LEDGERGATE_JWT_SIGNING_KEY_FILE=/run/secrets/jwt-signing.key, LEDGERGATE_MASTER_KEY_FILE=...).
# The first start's admin token goes to /data/admin-token; standard output is not a terminal here, so the
# log shows only that path: docker exec <container> cat /data/admin-token
WORKDIR /data
USER 10001:10001
VOLUME ["/data"]
EXPOSE 4444
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; port = os.environ.get('LEDGERGATE_PORT', '4444'); sys.exit(0 if urllib.request.urlopen(f'http://127.0.0.1:{port}/ready', timeout=2).status == 200 else 1)"]
STOPSIGNAL SIGTERM
CMD ["ledgergate", "serve"]
