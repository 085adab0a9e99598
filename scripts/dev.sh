#!/usr/bin/env bash
# Builds Switchyard (first build: several minutes) and runs the whole cluster on this machine:
# PostgreSQL, control plane, two nodes, mock provider. Extra arguments go to `switchyard dev`.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build
exec .build/debug/switchyard dev "$@"
