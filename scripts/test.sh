#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls exactly this).
# Everything the tests need is installed and started by the project's own
# scripts; nothing is done by hand.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== go vet"
go vet ./...
echo "== unit, replay and fuzz-seed tests"
go test -count=1 ./...
