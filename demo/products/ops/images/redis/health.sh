#!/bin/sh
# Healthy when redis answers PONG to an authenticated PING (port and password from redis.conf).
CONF=/etc/sealbox/redis.conf
port=$(sed -n 's/^port //p' "$CONF")
REDISCLI_AUTH=$(sed -n 's/^requirepass //p' "$CONF") \
    redis-cli -h 127.0.0.1 -p "$port" ping 2>&1 | grep -qx PONG
