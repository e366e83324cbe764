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
echo "== container tools (Debian's buildah, podman, runc) for the image test"
# test/e2e/container_test.go builds the runtime image with buildah and runs it
# with podman (docs/testenv.md). Installed once; a no-op when present.
container_pkgs=()
for pkg in buildah podman runc; do
  if [[ $(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null) != "install ok installed" ]]; then
    container_pkgs+=("$pkg")
  fi
done
if ((${#container_pkgs[@]})); then
  apt_opts=(-y -q --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
  mkdir -p "${HOME:-/root}/.cache/sentinel"
  apt_log="${HOME:-/root}/.cache/sentinel/apt-containers.log"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install "${apt_opts[@]}" "${container_pkgs[@]}" >"$apt_log" 2>&1; then
    apt-get update -q >>"$apt_log" 2>&1
    DEBIAN_FRONTEND=noninteractive apt-get install "${apt_opts[@]}" "${container_pkgs[@]}" >>"$apt_log" 2>&1 ||
      { tail -n 20 "$apt_log" >&2; echo "apt-get install ${container_pkgs[*]} failed (log: $apt_log)" >&2; exit 1; }
  fi
fi
echo "== test environment (real Kubernetes control plane, helm, Prometheus)"
scripts/testenv.sh build
echo "== chromium (report's test renders the HTML timeline headless)"
if ! command -v chromium >/dev/null 2>&1; then
  { apt-get install -y -q --no-install-recommends chromium || { apt-get update -q && apt-get install -y -q --no-install-recommends chromium; }; } >/dev/null
fi
echo "== all tests: unit, replay, fuzz seeds, then end-to-end"
# e2e runs after the rest: it restarts and freezes the API server, which
# the other packages' cluster tests must not see. Its fault suite
# (test/e2e/fault_*_test.go, docs/reliability.md) takes most of its time.
SENTINEL_E2E=required scripts/testenv.sh exec -- bash -c '
  set -e
  go test -count=1 -timeout 15m $(go list ./... | grep -v "/e2e$")
  go test -count=1 -timeout 25m ./test/e2e
'
