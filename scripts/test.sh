#!/usr/bin/env bash
# The test command: installs what the tests need (PostgreSQL server binaries, curl, procps, pip,
# and the Python tools of Tests/sdk/requirements.txt: the openai and anthropic SDKs and
# openapi-spec-validator), validates docs/openapi.yaml, builds, runs every Swift test suite
# against a throwaway PostgreSQL (the SDK checks included: SWITCHYARD_REQUIRE_SDK=1 makes a
# missing SDK a failure, not a skip), then runs the `switchyard dev` end-to-end smoke test.
#   SWITCHYARD_STRICT=1   lint with swift format, build with warnings as errors and the explicit
#                         import check (CI does).
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests use: PostgreSQL's server binaries, curl and procps for the smoke test.
missing=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || [ -n "${SWITCHYARD_PG_BIN:-}" ] || missing+=(postgresql)
command -v curl >/dev/null || missing+=(curl)
command -v pgrep >/dev/null || missing+=(procps)
python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "==> apt-get install ${missing[*]}"
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
  else
    echo "missing Debian packages: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

if ! python3 -c "import openai, anthropic, openapi_spec_validator" 2>/dev/null; then
  echo "==> installing the Python test tools (Tests/sdk/requirements.txt)"
  python3 -m pip install -q -r Tests/sdk/requirements.txt 2>/dev/null \
    || python3 -m pip install -q --break-system-packages -r Tests/sdk/requirements.txt
fi
export SWITCHYARD_REQUIRE_SDK=1

echo "==> validating docs/openapi.yaml (OpenAPI 3.1)"
python3 -c "import yaml; from openapi_spec_validator import validate; validate(yaml.safe_load(open('docs/openapi.yaml'))); print('docs/openapi.yaml is valid')"

flags=()
if [ "${SWITCHYARD_STRICT:-0}" = 1 ]; then
  flags=(-Xswiftc -warnings-as-errors --explicit-target-dependency-import-check error)
  echo "==> swift format lint --strict"
  swift format lint --strict --recursive Sources Tests Benchmarks
fi
echo "==> swift build --build-tests ${flags[*]}"
swift build --build-tests "${flags[@]}"
echo "==> swift test"
swift test --skip-build
echo "==> switchyard dev smoke test"
scripts/smoke-dev.sh
