#!/bin/bash
# Sealbox MariaDB entrypoint.
# First start (data dir has no mysql/ system schema): mariadb-install-db, then a temporary
# server with networking OFF runs the mounted init.sql over the socket, then it is stopped.
# Only then does the real server start, so the TCP port (the engine's health check) opens
# only once the app database, users and passwords exist. Later starts never re-run init.sql:
# data and passwords survive a reinstall. Secrets are only ever read from the mounted files
# (stdin redirection), never put in argv or the environment.
set -euo pipefail

CNF=/etc/sealbox/my.cnf
INIT_SQL=/etc/sealbox/init.sql
INIT_SOCK=/run/mysqld/sealbox-init.sock
INIT_PID=/run/mysqld/sealbox-init.pid

log() { echo "sealbox-mariadb: $*" >&2; }
die() { log "$*"; exit 2; }

[ -r "$CNF" ] || die "missing $CNF: mount the rendered my.cnf read-only there"

opt() {  # last value of a server option in the mounted config
    my_print_defaults --defaults-file="$CNF" mysqld server mariadb mariadbd \
        | sed -n "s/^--$1=//p" | tail -n 1
}
DATADIR=$(opt datadir)
DATADIR=${DATADIR:-/var/lib/mysql}
SOCKET=$(opt socket)
SOCKET=${SOCKET:-/run/mysqld/mysqld.sock}

mkdir -p "$DATADIR" "$(dirname "$SOCKET")" /run/mysqld
chown mysql:mysql "$(dirname "$SOCKET")" /run/mysqld
# A fresh host directory arrives owned by root; an existing one keeps its files' owner.
if [ "$(stat -c %U "$DATADIR")" != mysql ]; then
    log "chown -R mysql:mysql $DATADIR"
    chown -R mysql:mysql "$DATADIR"
fi

init_pid=""
init_done=0
on_exit() {
    if [ "$init_done" != 1 ]; then
        log "initialisation failed: stopping the temporary server and emptying $DATADIR"
        if [ -n "$init_pid" ] && kill -0 "$init_pid" 2>/dev/null; then
            kill -TERM "$init_pid" 2>/dev/null || true
            wait "$init_pid" 2>/dev/null || true
        fi
        find "$DATADIR" -mindepth 1 -delete 2>/dev/null || true
    fi
}

if [ ! -d "$DATADIR/mysql" ]; then
    [ -r "$INIT_SQL" ] || die "missing $INIT_SQL: needed on first start to create users"
    if [ -n "$(ls -A "$DATADIR")" ]; then
        die "$DATADIR is not empty but has no mysql/ schema: refusing to initialise over it"
    fi
    trap on_exit EXIT
    trap 'exit 143' TERM INT
    log "first start: initialising $DATADIR"
    mariadb-install-db --defaults-file="$CNF" --user=mysql --datadir="$DATADIR" \
        --skip-test-db --auth-root-authentication-method=socket >&2

    mariadbd --defaults-file="$CNF" --user=mysql --datadir="$DATADIR" --skip-networking \
        --socket="$INIT_SOCK" --pid-file="$INIT_PID" &
    init_pid=$!
    for _ in $(seq 1 120); do
        if mariadb-admin --no-defaults --socket="$INIT_SOCK" -uroot --silent ping \
            >/dev/null 2>&1; then
            break
        fi
        kill -0 "$init_pid" 2>/dev/null || die "temporary server exited during start"
        sleep 0.5
    done
    log "running $INIT_SQL (networking off)"
    mariadb --no-defaults --socket="$INIT_SOCK" -uroot --batch <"$INIT_SQL"
    kill -TERM "$init_pid"
    wait "$init_pid" || die "temporary server did not shut down cleanly"
    init_pid=""
    date -u +%FT%TZ >"$DATADIR/.sealbox-initialised"
    chown mysql:mysql "$DATADIR/.sealbox-initialised"
    init_done=1
    trap - EXIT TERM INT
    log "initialisation complete"
else
    log "$DATADIR already initialised: init.sql not re-run"
fi

# Foreground, as PID 1, errors to stderr (the config must not set log_error).
exec mariadbd --defaults-file="$CNF" --user=mysql "$@"
