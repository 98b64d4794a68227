# syntax=docker/dockerfile:1
# The planner, CUDA variant: for Ray GPU worker nodes (and a gateway on a GPU host). Same
# layout and versions as planner.Dockerfile; torch is the default PyPI wheel, which bundles
# the CUDA runtime, so the host needs only the NVIDIA driver and container toolkit.
#
#   docker build -f deploy/docker/planner-cuda.Dockerfile -t autopilot-planner:cuda .
ARG PYTHON_VERSION=3.11
FROM python:${PYTHON_VERSION}-slim AS planner-cuda

ARG RAY_VERSION=2.60.0
ARG TORCH_VERSION=2.13.0

ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    RAY_USAGE_STATS_ENABLED=0 RAY_AUTH_MODE=token \
    NVIDIA_VISIBLE_DEVICES=all NVIDIA_DRIVER_CAPABILITIES=compute,utility

RUN apt-get update && apt-get install -y --no-install-recommends tini wget \
    && rm -rf /var/lib/apt/lists/*
RUN pip install "torch==${TORCH_VERSION}"

WORKDIR /opt/autopilot
COPY pyproject.toml README.md ./
COPY protocol ./protocol
COPY edge_agent ./edge_agent
COPY planner_cluster ./planner_cluster
RUN pip install "ray[default]==${RAY_VERSION}" ".[planner,fast,hdf5]"
COPY deploy/docker/planner-entrypoint.sh /usr/local/bin/planner-entrypoint

RUN useradd --create-home --uid 1000 autopilot && mkdir -p /data && chown autopilot /data
USER autopilot
WORKDIR /data
EXPOSE 5555 6379 8265 10001 8080
ENTRYPOINT ["tini", "--", "planner-entrypoint"]
CMD ["ray", "start", "--address", "ray-head:6379", "--block"]
