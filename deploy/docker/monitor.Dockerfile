# syntax=docker/dockerfile:1
# The campaign monitor (`autopilot monitor serve`): web dashboard, JSON API, Prometheus
# /metrics. It reads the planner's Redis; it needs no Ray and no torch.
#
#   docker build -f deploy/docker/monitor.Dockerfile -t autopilot-monitor .
ARG PYTHON_VERSION=3.11
FROM python:${PYTHON_VERSION}-slim AS monitor

ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update && apt-get install -y --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/autopilot
COPY pyproject.toml README.md ./
COPY protocol ./protocol
COPY edge_agent ./edge_agent
COPY planner_cluster ./planner_cluster
# The monitor imports planner_cluster's state and config modules and the web stack: fastapi,
# uvicorn, prometheus-client, redis, numpy. No `planner` extra (torch, Ray).
RUN pip install ".[monitor]" "redis>=5"

RUN useradd --create-home --uid 1000 autopilot
USER autopilot
EXPOSE 8765
ENTRYPOINT ["tini", "--", "autopilot", "monitor"]
CMD ["serve", "--config", "/etc/autopilot/monitor.toml", "--bind", "0.0.0.0:8765"]
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import urllib.request as u; u.urlopen('http://127.0.0.1:8765/healthz', timeout=3)"
