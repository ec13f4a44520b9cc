#!/usr/bin/env bash
# Retrain the served run from its ratings store when something was written since it was
# trained, then tell the running service to swap the new run in (no request is lost).
# Meant for cron or a systemd timer; every hour, for example:
#
#   0 * * * *  MOVIEREC_API_TOKEN=... /srv/movierec/scripts/retrain-and-reload.sh \
#                  /srv/movierec/runs/current /srv/movierec/ratings.sqlite http://127.0.0.1:8000
#
# Arguments: RUN (the directory `movierec serve --run` serves; replaced atomically), STORE
# (as `serve --store`), URL of the service (default http://127.0.0.1:8000). The token is
# read from MOVIEREC_API_TOKEN. MOVIEREC names the command (default: movierec on PATH).
# Exit status: 0 when retrained and reloaded, or when nothing changed; non-zero otherwise
# (a failed reload leaves the old run serving, and says why).
set -euo pipefail

RUN=${1:?usage: retrain-and-reload.sh RUN STORE [URL]}
STORE=${2:?usage: retrain-and-reload.sh RUN STORE [URL]}
URL=${3:-http://127.0.0.1:8000}
: "${MOVIEREC_API_TOKEN:?set MOVIEREC_API_TOKEN to the write token of the service}"
MOVIEREC=${MOVIEREC:-movierec}

message=$($MOVIEREC retrain --run "$RUN" --store "$STORE" --out "$RUN" --if-changed --quiet)
echo "$message"
case "$message" in
    *"not retrained"*) exit 0 ;;
esac
curl --fail-with-body -sS -X POST -H "Authorization: Bearer $MOVIEREC_API_TOKEN" "$URL/admin/reload"
echo
