# syntax=docker/dockerfile:1
#
# n8n-sidecar. The default command is the HTTP gateway (`n8n-sidecar serve`); workers run
# the same image with `command: ["n8n-sidecar", "worker"]`.
#
#   docker build -t n8n-sidecar .          (from the repository root)
#
# Two stages: the first builds a virtualenv with the package and its runtime dependencies
# (no dev extras; every dependency ships wheels, so no compiler is needed); the second copies
# only that virtualenv onto a clean slim image. No source tree, pip cache or build tool is
# left in the final image.

FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml README.md ./
COPY sidecar ./sidecar
RUN /opt/venv/bin/pip install .


FROM python:3.11-slim

ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    SIDECAR_HOST=0.0.0.0 \
    SIDECAR_PORT=8080

RUN groupadd --system --gid 10001 sidecar \
 && useradd --system --uid 10001 --gid sidecar --create-home --home-dir /home/sidecar \
        --shell /usr/sbin/nologin sidecar

COPY --from=build /opt/venv /opt/venv

# The settings also read a `.env` in the working directory; there is none here (the
# .dockerignore keeps it out): configure the container through its environment.
WORKDIR /home/sidecar
USER 10001:10001

EXPOSE 8080

# Liveness of the gateway, with the stdlib only (slim has no curl). Worker containers have
# no HTTP endpoint: compose/queue.yml gives them their own healthcheck.
HEALTHCHECK --interval=15s --timeout=5s --start-period=15s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('SIDECAR_PORT', '8080'), timeout=4)" || exit 1

CMD ["n8n-sidecar", "serve"]
