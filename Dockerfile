# syntax=docker/dockerfile:1
# Multi-stage image kept in step with the README: the same bootstrap and `pcf` commands.
# Stage 1 installs the pinned dependencies and builds the background-data release.
FROM python:3.11-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN apt-get update && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /srv/pcf
# The pinned dependencies in a layer of their own, so that a code change does not reinstall them;
# bootstrap.sh below then finds them installed and adds the project itself.
COPY requirements.lock ./
RUN python3.11 -m venv .venv && .venv/bin/python -m pip install -q -r requirements.lock
COPY pyproject.toml README.md alembic.ini ./
COPY scripts ./scripts
COPY app ./app
COPY lca_data ./lca_data
COPY migrations ./migrations
COPY product_rules ./product_rules
COPY examples ./examples
RUN PYTHON=python3.11 scripts/bootstrap.sh
# Background data built at image build time (same command as `make run`).
ENV PCF_DATA_DIR=/srv/pcf/var/data
RUN .venv/bin/pcf data build

# Stage 2: runtime, non-root.
FROM python:3.11-slim-bookworm AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    PCF_ENV=prod PCF_DATA_DIR=/srv/pcf/var/data PCF_HOST=0.0.0.0 PCF_PORT=8000 \
    FORWARDED_ALLOW_IPS=*
# Headless Chromium prints the PDF report; Noto CJK renders the Chinese one.
RUN apt-get update && apt-get install -y --no-install-recommends chromium fonts-noto-cjk \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --home /srv/pcf pcf
WORKDIR /srv/pcf
COPY --from=build --chown=pcf:pcf /srv/pcf /srv/pcf
USER pcf
EXPOSE 8000
# The check follows PCF_PORT (a fixed 8000 reports a container on another port unhealthy).
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
    CMD python -c "import os,sys,urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PCF_PORT', '8000'), timeout=2).status != 200)"
# PCF_DATABASE_URL (PostgreSQL) and PCF_SECRET_KEY must be provided; prod refuses defaults.
CMD [".venv/bin/pcf", "serve"]
