# syntax=docker/dockerfile:1
# The edge agent, for a Linux microscope PC that runs containers (most run it natively: see
# deploy/edge/). The base install only: numpy, pyzmq, msgpack, plus blake3 and h5py.
#
#   docker build -f deploy/docker/edge.Dockerfile -t autopilot-edge .
#   docker run --rm -v /etc/autopilot:/etc/autopilot:ro -v edge-spool:/var/lib/autopilot \
#       autopilot-edge run --config /etc/autopilot/edge.toml
#
# The spool folder (/var/lib/autopilot/spool) must be a volume: it holds measurements the
# planner has not acknowledged yet, and a restarted edge resends them.
ARG PYTHON_VERSION=3.11
FROM python:${PYTHON_VERSION}-slim AS edge

ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update && apt-get install -y --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/autopilot
COPY pyproject.toml README.md ./
COPY protocol ./protocol
COPY edge_agent ./edge_agent
COPY planner_cluster ./planner_cluster
RUN pip install ".[fast,hdf5]"

RUN useradd --create-home --uid 1000 autopilot \
    && mkdir -p /var/lib/autopilot && chown autopilot /var/lib/autopilot
USER autopilot
WORKDIR /var/lib/autopilot
VOLUME ["/var/lib/autopilot"]
ENTRYPOINT ["tini", "--", "autopilot", "edge"]
CMD ["run", "--config", "/etc/autopilot/edge.toml"]
