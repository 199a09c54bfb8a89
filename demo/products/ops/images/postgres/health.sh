#!/bin/sh
# Healthy when the final server (the socket in /var/run/postgresql, not the init one) accepts.
port=$(sed -n 's/^port = //p' /etc/sealbox/postgresql.conf)
exec /usr/lib/postgresql/15/bin/pg_isready -q -h /var/run/postgresql -p "$port"
