#!/usr/bin/env bash
# Regenerates Sources/SwitchyardWire/Generated from proto-schemas/. Run by hand after a schema
# change and commit the output; CI never generates code.
#   needs: Debian's protobuf-compiler (protoc), and protoc-gen-swift built from our swift-protobuf
#   dependency (this script builds it).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v protoc >/dev/null || { echo "protoc missing: apt-get install -y protobuf-compiler" >&2; exit 1; }
swift build --product protoc-gen-swift
plugin="$(swift build --show-bin-path)/protoc-gen-swift"
out=Sources/SwitchyardWire/Generated
rm -rf "$out" && mkdir -p "$out"
protoc --plugin=protoc-gen-swift="$plugin" \
  --swift_out="$out" \
  --swift_opt=Visibility=Public \
  --swift_opt=UseAccessLevelOnImports=true \
  --swift_opt=FileNaming=PathToUnderscores \
  -I proto-schemas \
  $(find proto-schemas -name '*.proto' | sort)
echo "generated into $out"
