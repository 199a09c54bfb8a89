#!/bin/bash
# Sealbox PostgreSQL entrypoint.
# First start (no PG_VERSION in the data dir): initdb, then a temporary server on a private
# socket only (no TCP) runs the mounted init.sql (role + database), then it stops. Only then
# does the real server start, so the health check passes only once the role exists. Later
# starts never re-run init.sql: data and passwords survive a reinstall.
set -euo pipefail
BIN=/usr/lib/postgresql/15/bin
DATA=/var/lib/postgresql/data
RUN=/run/sealbox-postgres
CONF=/etc/sealbox/postgresql.conf
log() { echo "sealbox-postgres: $*" >&2; }
die() { log "$*"; exit 2; }
as_pg() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }

for f in "$CONF" /etc/sealbox/pg_hba.conf; do
    [ -r "$f" ] || die "missing $f: mount the rendered file there"
done
mkdir -p "$DATA" "$RUN" /var/run/postgresql
chown postgres:postgres "$RUN" /var/run/postgresql
[ "$(stat -c %U "$DATA")" = postgres ] || chown -R postgres:postgres "$DATA"
chmod 0700 "$DATA"
install -m 0600 -o postgres -g postgres /etc/sealbox/pg_hba.conf "$RUN/pg_hba.conf"
install -m 0600 -o postgres -g postgres "$CONF" "$RUN/postgresql.conf"

if [ ! -s "$DATA/PG_VERSION" ]; then
    [ -r /etc/sealbox/init.sql ] || die "missing /etc/sealbox/init.sql: needed on first start"
    [ -z "$(ls -A "$DATA")" ] || die "$DATA is not empty but has no PG_VERSION: refusing to initialise over it"
    log "first start: initdb $DATA"
    as_pg "$BIN/initdb" -D "$DATA" --username=postgres --auth-local=peer \
        --auth-host=scram-sha-256 --encoding=UTF8 --locale=C >&2
    as_pg "$BIN/pg_ctl" -D "$DATA" -w -t 60 -l "$RUN/init.log" \
        -o "-c config_file=$RUN/postgresql.conf -c listen_addresses='' -c unix_socket_directories=$RUN" start >&2
    install -m 0600 -o postgres -g postgres /etc/sealbox/init.sql "$RUN/init.sql"
    log "running init.sql (no TCP listener)"
    as_pg psql -v ON_ERROR_STOP=1 -h "$RUN" -U postgres -d postgres -q -f "$RUN/init.sql" >&2
    rm -f "$RUN/init.sql"
    as_pg "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >&2
    log "initialisation complete"
else
    log "$DATA already initialised: init.sql not re-run"
fi
exec setpriv --reuid=postgres --regid=postgres --init-groups \
    "$BIN/postgres" -D "$DATA" -c "config_file=$RUN/postgresql.conf" "$@"
