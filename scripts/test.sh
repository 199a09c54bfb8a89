#!/usr/bin/env bash
# The whole test suite (unit + end to end on the real Docker engine, MariaDB and sshd), after
# the same set-up as the demo. Extra arguments go to pytest (e.g. -k core, -m "not e2e").
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
set +e
.venv/bin/python -m pytest -p no:cacheprovider "$@"
rc=$?
set -e
if [ "$rc" = 5 ]; then
  echo "error: pytest collected no tests" >&2
fi
exit "$rc"
