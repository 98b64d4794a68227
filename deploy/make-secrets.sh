#!/usr/bin/env bash
# Generate every secret the compose file and the Kubernetes overlay need, into one folder
# (default deploy/secrets/, ignored by git). Existing files are kept, so it is safe to rerun.
#
#   deploy/make-secrets.sh [DIR]
#
#   DIR/redis.password            Redis requirepass (planner, actors, monitor)
#   DIR/signing.key               message signing key, shared with every edge
#   DIR/ray_auth_token            Ray token (RAY_AUTH_MODE=token) for every node and driver
#   DIR/curve/planner.key_secret  the planner's CURVE key pair (secret: planner only)
#   DIR/curve/planner.key         its public half: copy to every edge
#   DIR/curve-authorized/         the edges' public keys (EDGE_ID.key)
#   DIR/edges/EDGE_ID.key_secret  for each EDGE_ID in $EDGES (default: microscope-a): its key
#                                 pair; move the .key_secret to that microscope PC
#
# Better still, make each edge's pair on its own PC (`autopilot keys curve DIR EDGE_ID`) so the
# secret half never travels, and copy only EDGE_ID.key into curve-authorized/.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DIR="${1:-$HERE/secrets}"
AUTOPILOT="${AUTOPILOT:-$(command -v autopilot || echo "$HERE/../.venv/bin/autopilot")}"
PY="${PYTHON:-$(command -v python3)}"

umask 077
mkdir -p "$DIR/curve" "$DIR/curve-authorized"
random_secret() {
    [[ -s "$1" ]] || "$PY" -c 'import secrets; print(secrets.token_hex(32))' >"$1"
}
random_secret "$DIR/redis.password"
random_secret "$DIR/ray_auth_token"
[[ -s "$DIR/signing.key" ]] || "$AUTOPILOT" keys signing "$DIR/signing.key"
[[ -s "$DIR/curve/planner.key_secret" ]] || "$AUTOPILOT" keys curve "$DIR/curve" planner
for edge in ${EDGES-microscope-a}; do
    if [[ ! -s "$DIR/edges/$edge.key_secret" ]]; then
        mkdir -p "$DIR/edges"
        "$AUTOPILOT" keys curve "$DIR/edges" "$edge"
    fi
    cp "$DIR/edges/$edge.key" "$DIR/curve-authorized/$edge.key"
done
echo "secrets in $DIR; put the edges' public CURVE keys in $DIR/curve-authorized/" >&2
