#!/bin/sh
# Sealbox redis entrypoint: as root, hand the data dir and a private copy of the rendered
# redis.conf (0600, it holds the password) to the redis user, then run redis-server as it.
set -eu
CONF=/etc/sealbox/redis.conf
RUN=/run/sealbox-redis
DATA=/var/lib/redis
[ -r "$CONF" ] || { echo "sealbox-redis: missing $CONF: mount the rendered redis.conf" >&2; exit 2; }
mkdir -p "$DATA" "$RUN"
[ "$(stat -c %U "$DATA")" = redis ] || chown -R redis:redis "$DATA"
chown redis:redis "$RUN"
install -m 0600 -o redis -g redis "$CONF" "$RUN/redis.conf"
exec setpriv --reuid=redis --regid=redis --init-groups redis-server "$RUN/redis.conf" "$@"
