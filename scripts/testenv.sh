#!/usr/bin/env bash
# testenv.sh — a real, minimal Kubernetes control plane (etcd, kube-apiserver,
# kube-controller-manager) plus a real Prometheus, all on loopback, for
# sentinel's end-to-end tests. See docs/testenv.md.
#
# This script installs and builds; starting, supervising and stopping the
# components is Go (test/testenv, run as test/testenv/cmd/testenv),
# which the tests use too.
#
#   scripts/testenv.sh build              build/install everything into the cache
#   scripts/testenv.sh up DIR             start the environment, state in DIR
#   scripts/testenv.sh down DIR           stop it and remove runtime state
#   scripts/testenv.sh exec -- CMD ARGS   up (temp DIR) + CMD with its env + down
#   scripts/testenv.sh restart-prometheus DIR   load backfilled blocks at once
#   scripts/testenv.sh restart-apiserver DIR    same port; for watch/relist tests
set -euo pipefail

# ---------------------------------------------------------------------------
# versions and locations
# ---------------------------------------------------------------------------
K8S_VERSION=v1.34.4
K8S_STAGING_VERSION=v0.34.4
ETCD_VERSION=v3.6.13
HELM_VERSION=v3.19.5

K8S_STAGING_MODULES=(
  api apiextensions-apiserver apimachinery apiserver cli-runtime client-go
  cloud-provider cluster-bootstrap code-generator component-base
  component-helpers controller-manager cri-api cri-client csi-translation-lib
  dynamic-resource-allocation endpointslice externaljwt kms kube-aggregator
  kube-controller-manager kube-proxy kube-scheduler kubectl kubelet metrics
  mount-utils pod-security-admission sample-apiserver sample-cli-plugin
  sample-controller
)

# go needs HOME (or GOCACHE); some CI shells run without it.
if [[ -z ${HOME:-} ]]; then
  HOME=$(getent passwd "$(id -u)" | cut -d: -f6)
  export HOME=${HOME:-/root}
fi

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
CACHE=${SENTINEL_CACHE:-$HOME/.cache/sentinel}
K8S_DIR=$CACHE/k8s-$K8S_VERSION
ETCD_DIR=$CACHE/etcd-$ETCD_VERSION
HELM_DIR=$CACHE/helm-$HELM_VERSION
KUBE_APISERVER=$K8S_DIR/kube-apiserver
KUBE_CONTROLLER_MANAGER=$K8S_DIR/kube-controller-manager
ETCD=$ETCD_DIR/etcd
HELM=$HELM_DIR/helm

# Go lives at /usr/local/go on the target machines; make sure it is found even
# from a shell whose PATH lacks it.
if ! command -v go >/dev/null 2>&1 && [[ -x /usr/local/go/bin/go ]]; then
  PATH=/usr/local/go/bin:$PATH
fi

log() { printf 'testenv: %s\n' "$*" >&2; }
die() { printf 'testenv: ERROR: %s\n' "$*" >&2; exit 1; }

# fmt_secs 125 -> "2m05s"
fmt_secs() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

# ---------------------------------------------------------------------------
# exit handling: the build's policy-rc.d is removed on any exit
# ---------------------------------------------------------------------------
CLEANUP_POLICY_RC=0   # remove the policy-rc.d that build_prometheus put in place
POLICY_RC=/usr/sbin/policy-rc.d

on_exit() {
  local rc=$?
  trap - EXIT INT TERM
  if ((CLEANUP_POLICY_RC)); then rm -f "$POLICY_RC"; fi
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------
# prerequisites from Debian
# ---------------------------------------------------------------------------
apt_install() {
  # apt_install PKG... — install Debian packages; `apt-get update` only if the
  # plain install fails (stale or missing package lists).
  local apt_opts=(-y -q --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
  if ! DEBIAN_FRONTEND=noninteractive apt-get install "${apt_opts[@]}" "$@" >"$CACHE/apt.log" 2>&1; then
    log "apt-get install $* failed; running apt-get update and retrying"
    apt-get update -q >>"$CACHE/apt.log" 2>&1 || { tail -n 20 "$CACHE/apt.log" >&2; die "apt-get update failed"; }
    DEBIAN_FRONTEND=noninteractive apt-get install "${apt_opts[@]}" "$@" >>"$CACHE/apt.log" 2>&1 || { tail -n 20 "$CACHE/apt.log" >&2; die "apt-get install $* failed (log: $CACHE/apt.log)"; }
  fi
}

ensure_tools() {
  # flock serialises builds; present on most Debian machines, installed if not.
  local missing=()
  command -v flock >/dev/null 2>&1 || missing+=(util-linux)
  if ((${#missing[@]})); then
    log "installing ${missing[*]} (apt)"
    mkdir -p "$CACHE"
    apt_install "${missing[@]}"
  fi
}

# The Debian package starts Prometheus as a system service where it can. We
# only want the binaries: keep it from starting (policy-rc.d) and stop/disable
# it if it started anyway.
stop_system_prometheus() {
  if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1; then
    systemctl disable --now prometheus.service >/dev/null 2>&1 || true
  fi
  if [[ -x /etc/init.d/prometheus ]]; then
    /etc/init.d/prometheus stop >/dev/null 2>&1 || true
    if command -v update-rc.d >/dev/null 2>&1; then
      update-rc.d prometheus disable >/dev/null 2>&1 || true
    fi
  fi
  # Anything left running as the package's system user is the service.
  local pid
  for pid in $(pgrep -u prometheus -x prometheus 2>/dev/null || true); do
    log "stopping system prometheus service (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
  done
}

build_prometheus() {
  if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then
    log "prometheus: $(command -v prometheus) ($(prometheus --version 2>&1 | head -n 1)) — ok"
    return 0
  fi
  if command -v prometheus >/dev/null 2>&1; then
    die "prometheus is on PATH but promtool is not; install promtool (Debian: apt-get install prometheus)"
  fi
  [[ $(id -u) == 0 ]] || die "prometheus is not installed and installing it needs root (apt-get install prometheus)"
  log "installing prometheus (apt, Debian package)"
  local start=$SECONDS
  if [[ ! -e $POLICY_RC ]]; then
    # Tell invoke-rc.d not to start services during this install (on_exit
    # removes it again, even if the install is interrupted).
    printf '#!/bin/sh\nexit 101\n' >"$POLICY_RC"
    chmod 0755 "$POLICY_RC"
    CLEANUP_POLICY_RC=1
  fi
  apt_install prometheus
  if ((CLEANUP_POLICY_RC)); then rm -f "$POLICY_RC"; CLEANUP_POLICY_RC=0; fi
  stop_system_prometheus
  command -v prometheus >/dev/null 2>&1 || die "apt installed prometheus but it is not on PATH"
  command -v promtool >/dev/null 2>&1 || die "apt installed prometheus but promtool is not on PATH"
  log "prometheus installed in $(fmt_secs $((SECONDS - start))) ($(prometheus --version 2>&1 | head -n 1))"
}

# ---------------------------------------------------------------------------
# build
# ---------------------------------------------------------------------------

# k8s_ok BIN — the binary exists, runs, and is the version we want.
# (Output is captured, not piped into `grep -q`: with pipefail, grep exiting
# early makes the writer die of SIGPIPE and the check fail at random.)
runs_and_says() {
  local want=$1 out
  shift
  [[ -x $1 ]] || return 1
  out=$("$@" 2>/dev/null) || return 1
  [[ $out == *"$want"* ]]
}
k8s_ok() { runs_and_says "Kubernetes $K8S_VERSION" "$1" --version; }
etcd_ok() { runs_and_says "etcd Version: ${ETCD_VERSION#v}" "$ETCD" --version; }
helm_ok() { runs_and_says "$HELM_VERSION" "$HELM" version --short; }

# run_go ARGS... — go, for the throwaway-module builds: module mode even where
# GOFLAGS=-mod=vendor would say otherwise, static binaries, this toolchain.
# (Set per command, so that nothing leaks into the environment of `exec`'s CMD.)
run_go() {
  GOFLAGS="${GOFLAGS:-} -mod=mod" CGO_ENABLED=0 GOWORK=off GOTOOLCHAIN=${GOTOOLCHAIN:-local} go "$@"
}
check_go() { command -v go >/dev/null 2>&1 || die "go not found (expected /usr/local/go/bin/go)"; }

k8s_ldflags() {
  local v=${K8S_VERSION#v} pkg
  local major=${v%%.*} rest=${v#*.}
  local minor=${rest%%.*}
  local -a flags=(-s -w)
  for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    flags+=(-X "$pkg.gitVersion=$K8S_VERSION" -X "$pkg.gitMajor=$major" -X "$pkg.gitMinor=$minor"
      -X "$pkg.gitTreeState=clean" -X "$pkg.buildDate=1970-01-01T00:00:00Z")
  done
  echo "${flags[*]}"
}

build_k8s_module() {
  local src=$K8S_DIR/src m
  mkdir -p "$src"
  {
    echo "module sentinel.invalid/testenv/k8s"
    echo
    echo "go 1.24.0"
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    echo "replace ("
    for m in "${K8S_STAGING_MODULES[@]}"; do
      echo "	k8s.io/$m => k8s.io/$m $K8S_STAGING_VERSION"
    done
    echo ")"
  } >"$src/go.mod.want"
  cat >"$src/tools.go" <<'EOF'
//go:build tools

// Package tools pins the Kubernetes commands that testenv.sh builds.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
)
EOF
  # Re-tidy only when the wanted module file changed (or never tidied).
  if [[ ! -f $src/.tidy-ok ]] || ! cmp -s "$src/go.mod.want" "$src/.tidy-ok"; then
    log "resolving kubernetes $K8S_VERSION modules (go mod tidy; downloads on first run)"
    local start=$SECONDS
    cp "$src/go.mod.want" "$src/go.mod"
    rm -f "$src/go.sum"
    (cd "$src" && run_go mod tidy) >"$src/tidy.log" 2>&1 || { tail -n 30 "$src/tidy.log" >&2; die "go mod tidy for kubernetes failed (log: $src/tidy.log)"; }
    cp "$src/go.mod.want" "$src/.tidy-ok"
    log "modules resolved in $(fmt_secs $((SECONDS - start)))"
  fi
}

build_k8s_binary() {
  local name=$1 minutes=$2 out=$K8S_DIR/$1
  if k8s_ok "$out"; then
    log "$name $K8S_VERSION: $out — ok"
    return 0
  fi
  build_k8s_module
  log "building $name $K8S_VERSION (takes ~$minutes min)"
  local start=$SECONDS tmp="$out.tmp.$$"
  local ldflags
  ldflags=$(k8s_ldflags)
  if ! (cd "$K8S_DIR/src" && run_go build -trimpath -ldflags "$ldflags" -o "$tmp" "k8s.io/kubernetes/cmd/$name") >"$K8S_DIR/build-$name.log" 2>&1; then
    rm -f "$tmp"
    tail -n 30 "$K8S_DIR/build-$name.log" >&2
    die "building $name failed (log: $K8S_DIR/build-$name.log)"
  fi
  mv -f "$tmp" "$out"
  k8s_ok "$out" || die "built $name but '$out --version' does not report $K8S_VERSION"
  log "built $name in $(fmt_secs $((SECONDS - start)))"
}

build_etcd() {
  if etcd_ok; then
    log "etcd $ETCD_VERSION: $ETCD — ok"
    return 0
  fi
  local src=$ETCD_DIR/src
  mkdir -p "$src"
  cat >"$src/go.mod.want" <<EOF
module sentinel.invalid/testenv/etcd

go 1.24.0

require go.etcd.io/etcd/server/v3 $ETCD_VERSION
EOF
  cat >"$src/tools.go" <<'EOF'
//go:build tools

// Package tools pins the etcd server that testenv.sh builds.
package tools

import _ "go.etcd.io/etcd/server/v3"
EOF
  log "building etcd $ETCD_VERSION (takes ~1 min)"
  local start=$SECONDS tmp="$ETCD.tmp.$$"
  if [[ ! -f $src/.tidy-ok ]] || ! cmp -s "$src/go.mod.want" "$src/.tidy-ok"; then
    cp "$src/go.mod.want" "$src/go.mod"
    rm -f "$src/go.sum"
    (cd "$src" && run_go mod tidy) >"$ETCD_DIR/build.log" 2>&1 || { tail -n 30 "$ETCD_DIR/build.log" >&2; die "go mod tidy for etcd failed (log: $ETCD_DIR/build.log)"; }
    cp "$src/go.mod.want" "$src/.tidy-ok"
  fi
  if ! (cd "$src" && run_go build -trimpath -ldflags "-s -w" -o "$tmp" go.etcd.io/etcd/server/v3) >>"$ETCD_DIR/build.log" 2>&1; then
    rm -f "$tmp"
    tail -n 30 "$ETCD_DIR/build.log" >&2
    die "building etcd failed (log: $ETCD_DIR/build.log)"
  fi
  mv -f "$tmp" "$ETCD"
  etcd_ok || die "built etcd but '$ETCD --version' does not report $ETCD_VERSION"
  log "built etcd in $(fmt_secs $((SECONDS - start)))"
}

helm_ldflags() {
  local v=${K8S_STAGING_VERSION#v0.}
  local kminor=${v%%.*} x
  local -a flags=(-s -w -X "helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
    -X helm.sh/helm/v3/internal/version.gitTreeState=clean)
  # The Kubernetes version helm assumes when it has no cluster (helm template).
  for x in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    flags+=(-X "$x.k8sVersionMajor=1" -X "$x.k8sVersionMinor=$kminor")
  done
  echo "${flags[*]}"
}

build_helm() {
  if helm_ok; then
    log "helm $HELM_VERSION: $HELM — ok"
    return 0
  fi
  log "building helm $HELM_VERSION (takes ~1-4 min)"
  local start=$SECONDS tmpbin="$HELM_DIR/.gobin.$$"
  rm -rf "$tmpbin"
  mkdir -p "$tmpbin"
  if ! GOBIN=$tmpbin run_go install -trimpath \
    -ldflags "$(helm_ldflags)" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >"$HELM_DIR/build.log" 2>&1; then
    rm -rf "$tmpbin"
    tail -n 30 "$HELM_DIR/build.log" >&2
    die "building helm failed (log: $HELM_DIR/build.log)"
  fi
  mv -f "$tmpbin/helm" "$HELM"
  rm -rf "$tmpbin"
  helm_ok || die "built helm but '$HELM version' does not report $HELM_VERSION"
  log "built helm in $(fmt_secs $((SECONDS - start)))"
}

all_built() {
  k8s_ok "$KUBE_APISERVER" && k8s_ok "$KUBE_CONTROLLER_MANAGER" && etcd_ok && helm_ok &&
    command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1
}

cmd_build() {
  mkdir -p "$CACHE" "$K8S_DIR" "$ETCD_DIR" "$HELM_DIR"
  ensure_tools
  # One build at a time per cache (two test runs may start together).
  local lockfd
  exec {lockfd}>"$CACHE/.build.lock"
  if ! flock -n "$lockfd"; then
    log "another build holds $CACHE/.build.lock; waiting"
    flock "$lockfd"
  fi
  local start=$SECONDS
  check_go
  build_prometheus
  build_etcd
  build_helm
  build_k8s_binary kube-apiserver 5
  build_k8s_binary kube-controller-manager 1
  exec {lockfd}>&-
  log "build: everything ready in $CACHE ($(fmt_secs $((SECONDS - start))))"
}


# ---------------------------------------------------------------------------
# run: the Go supervisor (test/testenv/cmd/testenv), built once per
# version of its sources into the cache
# ---------------------------------------------------------------------------
TESTENV_BIN_DIR=$CACHE/testenv-bin

# testenv_bin — build the supervisor if its sources changed; path in REPLY.
testenv_bin() {
  local key bin tmp
  key=$(cd "$REPO_ROOT" && {
    go version
    cat go.mod go.sum
    find test/testenv -name '*.go' ! -name '*_test.go' -print0 | sort -z | xargs -0 cat
  } | sha256sum | cut -c1-16)
  bin=$TESTENV_BIN_DIR/testenv-$key
  if [[ ! -x $bin ]]; then
    mkdir -p "$TESTENV_BIN_DIR"
    tmp=$bin.tmp.$$
    (cd "$REPO_ROOT" && go build -o "$tmp" ./test/testenv/cmd/testenv) ||
      { rm -f "$tmp"; die "building test/testenv/cmd/testenv failed"; }
    mv -f "$tmp" "$bin"
    # Older builds go after a day (a running one keeps its inode).
    find "$TESTENV_BIN_DIR" -name 'testenv-*' -mtime +1 -delete 2>/dev/null || true
  fi
  REPLY=$bin
}

# run_testenv ARGS... — replace this shell with the supervisor, told where
# the binaries are; signals reach it directly.
run_testenv() {
  check_go
  testenv_bin
  export SENTINEL_TESTENV_ETCD=$ETCD
  export SENTINEL_TESTENV_KUBE_APISERVER=$KUBE_APISERVER
  export SENTINEL_TESTENV_KUBE_CONTROLLER_MANAGER=$KUBE_CONTROLLER_MANAGER
  export SENTINEL_TEST_KUBE_VERSION=$K8S_VERSION
  export HELM
  SENTINEL_TESTENV_PROMETHEUS=${SENTINEL_TESTENV_PROMETHEUS:-$(command -v prometheus || true)}
  PROMTOOL=${PROMTOOL:-$(command -v promtool || true)}
  export SENTINEL_TESTENV_PROMETHEUS PROMTOOL
  trap - EXIT INT TERM
  exec "$REPLY" "$@"
}

ensure_built() {
  if ! all_built; then
    cmd_build
  fi
}

usage() {
  cat >&2 <<EOF
usage:
  $0 build              build/install everything into $CACHE
  $0 up DIR             start etcd, kube-apiserver, kube-controller-manager, prometheus
  $0 down DIR           stop them and remove runtime state (logs are kept)
  $0 exec -- CMD ARGS   up in a temp dir, run CMD with its env, down
  $0 restart-prometheus DIR
                        restart Prometheus (same URL) to load backfilled blocks now
  $0 restart-apiserver DIR
                        restart kube-apiserver (same URL), cutting every watch
EOF
  exit 2
}

main() {
  local cmd=${1:-}
  shift || true
  case $cmd in
    build) cmd_build "$@" ;;
    up | exec) ensure_built; run_testenv "$cmd" "$@" ;;
    down) run_testenv down "$@" ;;
    restart-prometheus) run_testenv restart prometheus "$@" ;;
    restart-apiserver) run_testenv restart kube-apiserver "$@" ;;
    *) usage ;;
  esac
}

main "$@"
