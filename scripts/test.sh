#!/usr/bin/env bash
# The whole test suite (unit + end to end on the real Docker engine, MariaDB and sshd), after
# the same set-up as the demo. Extra arguments go to pytest (e.g. -k core, -m "not e2e").
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/mypy
# The live Kubernetes of tests/e2e/k8s: built once per machine from Debian sources (4-10 min),
# cached in /var/cache/sealbox-k8s; later runs find it at once.
bash tests/k8s/build.sh >/dev/null
set +e
.venv/bin/python -m pytest -p no:cacheprovider "$@"
rc=$?
set -e
if [ "$rc" = 5 ]; then
  echo "error: pytest collected no tests" >&2
fi
exit "$rc"
