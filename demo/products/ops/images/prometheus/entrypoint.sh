#!/bin/sh
# Sealbox prometheus entrypoint: the data dir to the prometheus user, then prometheus as it
# with the arguments the module spec renders (config file, TSDB path, listen address).
set -eu
DATA=/var/lib/prometheus
mkdir -p "$DATA"
[ "$(stat -c %U "$DATA")" = prometheus ] || chown -R prometheus:prometheus "$DATA"
exec setpriv --reuid=prometheus --regid=prometheus --init-groups /usr/bin/prometheus "$@"
