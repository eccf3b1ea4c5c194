#!/usr/bin/env bash
# Install (Debian package), start and prepare PostgreSQL for the distributed
# tuning test (tests/test_tuning_distributed.py). Idempotent: safe to run
# again on a machine where it already ran. Prints the URI the tests read:
#   RNNZOO_TEST_POSTGRES_URI=postgresql://rnnzoo:rnnzoo@127.0.0.1:5432/rnnzoo
# Source it (`source .ci/postgres.sh`) to get the variable exported.
set -euo pipefail

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
PG_USER="${RNNZOO_PG_USER:-rnnzoo}"
PG_PASSWORD="${RNNZOO_PG_PASSWORD:-rnnzoo}"
PG_DB="${RNNZOO_PG_DB:-rnnzoo}"
PG_PORT="${RNNZOO_PG_PORT:-5432}"

if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi

version=$(ls /usr/lib/postgresql | sort -V | tail -1)
if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -q "^$version main$"; then
    $SUDO pg_createcluster "$version" main --port "$PG_PORT" >/dev/null
fi
if ! pg_lsclusters -h | awk '$1=="'"$version"'" && $2=="main" {print $4}' | grep -q online; then
    $SUDO pg_ctlcluster "$version" main start
fi

as_postgres() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}
for _ in $(seq 1 30); do
    as_postgres psql -p "$PG_PORT" -tAc "select 1" >/dev/null 2>&1 && break
    sleep 1
done
as_postgres psql -p "$PG_PORT" -v ON_ERROR_STOP=1 -q -c "DO \$\$BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_USER') THEN
    CREATE ROLE $PG_USER LOGIN PASSWORD '$PG_PASSWORD' CREATEDB;
  END IF;
END\$\$;"
if [ -z "$(as_postgres psql -p "$PG_PORT" -tAc "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'")" ]; then
    as_postgres createdb -p "$PG_PORT" -O "$PG_USER" "$PG_DB"
fi

export RNNZOO_TEST_POSTGRES_URI="postgresql://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DB"
echo "RNNZOO_TEST_POSTGRES_URI=$RNNZOO_TEST_POSTGRES_URI"
