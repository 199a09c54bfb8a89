#!/bin/sh
# Sealbox etcd entrypoint: the data dir to the etcd user (0700, as etcd wants it), then etcd as
# that user with the arguments the module spec renders (listen/advertise URLs, data dir).
set -eu
DATA=/var/lib/etcd
mkdir -p "$DATA"
[ "$(stat -c %U "$DATA")" = etcd ] || chown -R etcd:etcd "$DATA"
chmod 0700 "$DATA"
exec setpriv --reuid=etcd --regid=etcd --init-groups etcd "$@"
