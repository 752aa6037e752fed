# shellcheck shell=sh
# Entrypoint of the PostgreSQL 17 image (nix/images.nix prepends `set -eu` and a PATH
# holding the server's binaries). First start: initdb, then a password-authenticated
# `rinha` role owning database `rinha`, created in single-user mode before anything
# listens, so the healthcheck (pg_isready) only passes once the database exists.
# Arguments are passed to the server (`-c key=value` tuning from nix/settings.nix).
# tests/nix/check.sh runs this script against local PostgreSQL 17 binaries when it can.
PGDATA="${PGDATA:-/var/lib/postgresql/data}"
password="${RINHA_DB_PASSWORD:-rinha}"
case "$password" in
  *"'"*) echo "RINHA_DB_PASSWORD must not contain a single quote" >&2; exit 2 ;;
esac
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  initdb -D "$PGDATA" -U postgres -E UTF8 --locale=C \
    --auth-local=trust --auth-host=scram-sha-256 --no-instructions > /dev/null
  echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
  postgres --single -D "$PGDATA" postgres > /dev/null <<SQL
CREATE ROLE rinha LOGIN PASSWORD '$password';
CREATE DATABASE rinha OWNER rinha;
SQL
fi
exec postgres -D "$PGDATA" "$@"
