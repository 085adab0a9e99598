#!/usr/bin/env bash
# The test command: installs what the tests need (PostgreSQL server binaries, the openai Python
# SDK), builds, runs every Swift test suite against a throwaway PostgreSQL, then runs the
# `switchyard dev` end-to-end smoke test.
#   SWITCHYARD_STRICT=1   build with warnings as errors and the explicit import check (CI does).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && [ -z "${SWITCHYARD_PG_BIN:-}" ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "==> installing PostgreSQL server binaries (Debian package postgresql)"
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql
  else
    echo "PostgreSQL server binaries missing: sudo apt-get install -y postgresql" >&2
    exit 1
  fi
fi

if ! python3 -c "import openai" 2>/dev/null; then
  echo "==> installing the openai Python SDK"
  python3 -m pip install -q -r Tests/sdk/requirements.txt
fi
export SWITCHYARD_REQUIRE_SDK=1

flags=()
if [ "${SWITCHYARD_STRICT:-0}" = 1 ]; then
  flags=(-Xswiftc -warnings-as-errors --explicit-target-dependency-import-check error)
fi
echo "==> swift build --build-tests ${flags[*]}"
swift build --build-tests "${flags[@]}"
echo "==> swift test"
swift test --skip-build
echo "==> switchyard dev smoke test"
scripts/smoke-dev.sh
