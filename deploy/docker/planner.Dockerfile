# syntax=docker/dockerfile:1
# The planner, CPU variant: gateway (`autopilot planner`) and Ray nodes (`ray start`) share it,
# so the Ray and Python versions match across the cluster, as Ray requires.
#
#   docker build -f deploy/docker/planner.Dockerfile -t autopilot-planner:cpu .
#
# Build context: the repository root. The CUDA variant is planner-cuda.Dockerfile.
ARG PYTHON_VERSION=3.11
FROM python:${PYTHON_VERSION}-slim AS planner

# Pin Ray here, not only in pyproject: every node and every driver must run the same version.
ARG RAY_VERSION=2.60.0
ARG TORCH_VERSION=2.13.0
# CPU-only torch wheels: without this index pip installs the CUDA build (gigabytes).
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    RAY_USAGE_STATS_ENABLED=0 RAY_AUTH_MODE=token

RUN apt-get update && apt-get install -y --no-install-recommends tini wget \
    && rm -rf /var/lib/apt/lists/*
RUN pip install "torch==${TORCH_VERSION}" --index-url "${TORCH_INDEX_URL}"

WORKDIR /opt/autopilot
COPY pyproject.toml README.md ./
COPY protocol ./protocol
COPY edge_agent ./edge_agent
COPY planner_cluster ./planner_cluster
RUN pip install "ray[default]==${RAY_VERSION}" ".[planner,fast,hdf5,monitor]"
COPY deploy/docker/planner-entrypoint.sh /usr/local/bin/planner-entrypoint

RUN useradd --create-home --uid 1000 autopilot && mkdir -p /data && chown autopilot /data
USER autopilot
WORKDIR /data
# 5555 gateway; 6379 Ray GCS; 8265 Ray dashboard; 10001 Ray client; 8080 Ray metrics
EXPOSE 5555 6379 8265 10001 8080
ENTRYPOINT ["tini", "--", "planner-entrypoint"]
CMD ["autopilot", "planner", "--config", "/etc/autopilot/planner.toml"]
# The gateway answers on its port once Redis and Ray are joined; Ray nodes override this.
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 \
    CMD python -c "import socket; socket.create_connection(('127.0.0.1', 5555), 3).close()"
