#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls exactly this).
#
# Everything the tests need is installed and started here, nothing by hand:
# scripts/testenv.sh builds etcd, kube-apiserver, kube-controller-manager and
# helm once into ~/.cache/sentinel (keyed by version; ~10 minutes cold, seconds
# warm), installs Debian's prometheus, starts them all on loopback, runs every
# Go test against them, and stops them again, also when a test fails.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== gofmt"
unformatted=$(git ls-files -z -- '*.go' | xargs -0 gofmt -l)
if [[ -n $unformatted ]]; then
  echo "not gofmt-formatted:" >&2
  echo "$unformatted" >&2
  exit 1
fi
echo "== go vet"
go vet ./...
echo "== test environment (real Kubernetes control plane, helm, Prometheus)"
scripts/testenv.sh build
echo "== all tests: unit, replay, fuzz seeds, end-to-end"
SENTINEL_E2E=required scripts/testenv.sh exec -- go test -count=1 -timeout 20m ./...
