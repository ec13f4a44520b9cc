#!/usr/bin/env bash
# Starts Debian's PostgreSQL on loopback for the tests of the PostgreSQL ratings store, and
# prints the URL of an empty test database (the tests read it from MOVIEREC_TEST_POSTGRES).
# Installs the server first where it is missing (as root, with apt-get). Idempotent.
#
#   export MOVIEREC_TEST_POSTGRES=$(bash scripts/start-postgres.sh)
set -euo pipefail

DB=movierec_test USER_NAME=movierec PASSWORD=movierec

if ! command -v pg_lsclusters >/dev/null 2>&1 || [ -z "$(pg_lsclusters -h 2>/dev/null)" ]; then
    echo "installing Debian's postgresql" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2 \
        || { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2; }
fi

read -r VERSION CLUSTER PORT STATUS _ < <(pg_lsclusters -h | head -n 1)
if [ "$STATUS" != "online" ]; then
    pg_ctlcluster "$VERSION" "$CLUSTER" start >&2
fi

as_postgres() { (cd / && runuser -u postgres -- "$@"); }
as_postgres psql -q -p "$PORT" -v ON_ERROR_STOP=1 -c \
    "DO \$\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$USER_NAME') THEN
       CREATE ROLE $USER_NAME LOGIN PASSWORD '$PASSWORD' CREATEDB; END IF; END \$\$;" >&2
if ! as_postgres psql -p "$PORT" -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1; then
    as_postgres createdb -p "$PORT" -O "$USER_NAME" "$DB" >&2
fi
echo "postgresql://$USER_NAME:$PASSWORD@127.0.0.1:$PORT/$DB"
