#!/bin/sh
# Entry point of the planner images.
#
# A Ray driver must run on a Ray node: `ray.init(address=GCS)` attaches to a raylet on its own
# host. So when AUTOPILOT_RAY_JOIN=HOST:PORT is set (the gateway container), this first joins
# the cluster as a node with no CPUs and no GPUs (campaign actors never land on it), then runs
# the command, normally `autopilot planner` with `ray = "auto"`. Ray head and worker
# containers leave AUTOPILOT_RAY_JOIN unset and run `ray start ... --block` directly.
#
# The Ray token: RAY_AUTH_MODE=token (set in the image) and RAY_AUTH_TOKEN_PATH pointing at a
# mounted secret, or RAY_AUTH_TOKEN from the environment.
set -eu
if [ -n "${AUTOPILOT_RAY_JOIN:-}" ]; then
    ray start --address "$AUTOPILOT_RAY_JOIN" --num-cpus 0 --num-gpus 0 \
        --memory "${AUTOPILOT_RAY_JOIN_MEMORY:-536870912}" \
        --object-store-memory "${AUTOPILOT_RAY_JOIN_OBJECT_STORE:-134217728}" \
        --disable-usage-stats
fi
exec "$@"
