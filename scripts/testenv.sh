#!/usr/bin/env bash
# testenv.sh — a real, minimal Kubernetes control plane (etcd, kube-apiserver,
# kube-controller-manager) plus a real Prometheus, all on loopback, for
# sentinel's end-to-end tests. See docs/testenv.md.
#
#   scripts/testenv.sh build              build/install everything into the cache
#   scripts/testenv.sh up DIR             start the environment, state in DIR
#   scripts/testenv.sh down DIR           stop it and remove runtime state
#   scripts/testenv.sh exec -- CMD ARGS   up (temp DIR) + source env + CMD + down
#   scripts/testenv.sh smoke              prove the cluster is real (helm, kubectl)
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

# Timeouts (seconds) for readiness waits; overridable for slow machines.
TIMEOUT_ETCD=${SENTINEL_TESTENV_TIMEOUT_ETCD:-60}
TIMEOUT_APISERVER=${SENTINEL_TESTENV_TIMEOUT_APISERVER:-120}
TIMEOUT_KCM=${SENTINEL_TESTENV_TIMEOUT_KCM:-60}
TIMEOUT_PROMETHEUS=${SENTINEL_TESTENV_TIMEOUT_PROMETHEUS:-60}
TIMEOUT_SA=${SENTINEL_TESTENV_TIMEOUT_SA:-60}
# Prometheus keeps backfilled data this long (tests backfill old blocks).
PROM_RETENTION=${SENTINEL_TESTENV_PROM_RETENTION:-3650d}

# The components, in the order `up` starts them.
COMPONENTS=(etcd kube-apiserver kube-controller-manager prometheus)

# Go lives at /usr/local/go on the target machines; make sure it is found even
# from a shell whose PATH lacks it.
if ! command -v go >/dev/null 2>&1 && [[ -x /usr/local/go/bin/go ]]; then
  PATH=/usr/local/go/bin:$PATH
fi

log() { printf 'testenv: %s\n' "$*" >&2; }
die() { printf 'testenv: ERROR: %s\n' "$*" >&2; exit 1; }

# now_ms / since_ms T0 — wall clock in ms, and "1.234s" since T0.
now_ms() { local t=${EPOCHREALTIME/[.,]/}; echo "${t:0:-3}"; }
since_ms() { local d=$(($(now_ms) - $1)); printf '%d.%03ds' $((d / 1000)) $((d % 1000)); }

# fmt_secs 125 -> "2m05s"
fmt_secs() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

# ---------------------------------------------------------------------------
# exit handling: whatever is registered here is undone on any exit
# ---------------------------------------------------------------------------
CLEANUP_DOWN_DIR=""   # an env dir to bring down on exit (half-done up, exec)
CLEANUP_RM_DIR=""     # a temp dir to remove on exit (exec, smoke)
CLEANUP_KEEP_LOGS=0   # keep $CLEANUP_RM_DIR/logs instead of removing it all
CHILD_PID=""          # the exec'ed command, killed (whole group) on a signal
CLEANUP_POLICY_RC=0   # remove the policy-rc.d that build_prometheus put in place
POLICY_RC=/usr/sbin/policy-rc.d

on_exit() {
  local rc=$?
  trap - EXIT INT TERM
  if ((CLEANUP_POLICY_RC)); then rm -f "$POLICY_RC"; fi
  if [[ -n $CHILD_PID ]] && kill -0 "$CHILD_PID" 2>/dev/null; then
    kill -TERM -- "-$CHILD_PID" 2>/dev/null || kill -TERM "$CHILD_PID" 2>/dev/null || true
    wait "$CHILD_PID" 2>/dev/null || true
  fi
  if [[ -n $CLEANUP_DOWN_DIR ]]; then
    down_impl "$CLEANUP_DOWN_DIR" || true
  fi
  if [[ -n $CLEANUP_RM_DIR && -d $CLEANUP_RM_DIR ]]; then
    if [[ $CLEANUP_KEEP_LOGS == 1 && -d $CLEANUP_RM_DIR/logs ]]; then
      find "$CLEANUP_RM_DIR" -mindepth 1 -maxdepth 1 ! -name logs -exec rm -rf {} + 2>/dev/null || true
      log "logs kept in $CLEANUP_RM_DIR/logs"
    else
      rm -rf "$CLEANUP_RM_DIR"
    fi
  fi
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
  # Small tools used by `up`; present on most Debian machines, installed if not.
  local missing=()
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)
  command -v curl >/dev/null 2>&1 || missing+=(curl ca-certificates)
  command -v flock >/dev/null 2>&1 || missing+=(util-linux)
  command -v setsid >/dev/null 2>&1 || missing+=(util-linux)
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
# process helpers
# ---------------------------------------------------------------------------
MARKER=.sentinel-testenv

# is_alive PID — running and not a zombie.
is_alive() {
  local pid=$1 stat state
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  state=${stat##*) }
  state=${state%% *}
  [[ $state != Z && $state != X ]]
}

# is_ours PID DIR — the process's command line mentions DIR (every process we
# start gets paths inside DIR), so a recycled pid is never killed.
is_ours() {
  local cmdline
  cmdline=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) || return 1
  [[ $cmdline == *"$2/"* ]]
}

# start_proc DIR NAME BIN ARGS... — start BIN in its own session, log to
# DIR/logs/NAME.log, pid to DIR/pids/NAME.
start_proc() {
  local dir=$1 name=$2
  shift 2
  [[ -x $1 ]] || die "$name: $1 is not executable (run: $0 build)"
  # The subshell execs setsid, which execs BIN: $! is BIN's pid.
  (cd "$dir" && exec setsid "$@" </dev/null >>"$dir/logs/$name.log" 2>&1) &
  echo "$!" >"$dir/pids/$name"
}

pid_of() { cat "$1/pids/$2" 2>/dev/null || true; }

# stop_procs DIR NAME... — TERM, wait, KILL, wait.
stop_procs() {
  local dir=$1 name pid
  shift
  local -a pids=()
  for name in "$@"; do
    pid=$(pid_of "$dir" "$name")
    if [[ -n $pid ]] && is_alive "$pid" && is_ours "$pid" "$dir"; then
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid")
    fi
  done
  local deadline=$((SECONDS + 10))
  local -a left
  while :; do
    left=()
    for pid in ${pids[@]+"${pids[@]}"}; do is_alive "$pid" && left+=("$pid"); done
    ((${#left[@]})) || break
    if ((SECONDS >= deadline)); then
      log "still running after 10s, sending KILL: ${left[*]}"
      kill -KILL "${left[@]}" 2>/dev/null || true
      deadline=$((SECONDS + 1000))
    fi
    sleep 0.2
  done
  # Reap the ones that are our own children (exec/smoke); init reaps the others.
  for pid in ${pids[@]+"${pids[@]}"}; do wait "$pid" 2>/dev/null || true; done
  STOPPED_PIDS+=(${pids[@]+"${pids[@]}"})
  for name in "$@"; do rm -f "$dir/pids/$name"; done
}

# wait_reaped — give init a moment to reap what stop_procs stopped, so that
# nothing, not even a zombie, shows in `pgrep` once `down` returns (some
# container inits reap orphans only every second or so).
STOPPED_PIDS=()
wait_reaped() {
  local deadline=$((SECONDS + 5)) pid
  for pid in ${STOPPED_PIDS[@]+"${STOPPED_PIDS[@]}"}; do
    while [[ -e /proc/$pid ]] && ! is_alive "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
  done
  STOPPED_PIDS=()
}

# tail_log DIR NAME — the end of a component's log, for error messages.
tail_log() {
  local f=$1/logs/$2.log
  if [[ -s $f ]]; then
    printf -- '----- last lines of %s -----\n' "$f" >&2
    tail -n 40 "$f" >&2
    printf -- '----- end of %s -----\n' "$f" >&2
  else
    printf 'testenv: (%s is empty)\n' "$f" >&2
  fi
}

# wait_ready DIR NAME TIMEOUT CMD... — poll CMD until it succeeds; return 1 if
# the process dies or the timeout passes.
wait_ready() {
  local dir=$1 name=$2 timeout=$3
  shift 3
  local deadline=$((SECONDS + timeout)) pid
  pid=$(pid_of "$dir" "$name")
  while ((SECONDS < deadline)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    if ! is_alive "$pid"; then
      WAIT_ERROR="$name exited during startup"
      return 1
    fi
    sleep 0.25
  done
  WAIT_ERROR="$name not ready after ${timeout}s"
  return 1
}

# A port that no socket on this machine uses, below the ephemeral range so no
# outgoing connection takes it meanwhile. Result in REPLY.
PICKED_PORTS=" "
port_in_use() {
  local hex
  hex=$(printf '%04X' "$1")
  grep -qsE "^ *[0-9]+: [0-9A-F]+:$hex " /proc/net/tcp /proc/net/tcp6
}
free_port() {
  local p i
  for ((i = 0; i < 500; i++)); do
    p=$((20000 + (RANDOM * 32768 + RANDOM) % 12000))
    [[ $PICKED_PORTS == *" $p "* ]] && continue
    port_in_use "$p" && continue
    PICKED_PORTS+="$p "
    REPLY=$p
    return 0
  done
  die "could not find a free loopback port"
}

# start_component DIR NAME TIMEOUT — pick ports, start, wait for readiness;
# retried with new ports if the port was taken in between.
start_component() {
  local dir=$1 name=$2 timeout=$3 attempt t0
  for attempt in 1 2 3; do
    WAIT_ERROR=""
    t0=$(now_ms)
    "start_$name" "$dir"
    if wait_ready "$dir" "$name" "$timeout" "ready_$name" "$dir"; then
      log "$name ready ($(since_ms "$t0"))"
      return 0
    fi
    if ((attempt < 3)) && grep -qiE 'address already in use|bind: address' "$dir/logs/$name.log" 2>/dev/null; then
      log "$name: port taken meanwhile, retrying with another port"
      stop_procs "$dir" "$name"
      continue
    fi
    log "ERROR: $WAIT_ERROR"
    tail_log "$dir" "$name"
    die "$name failed to start (log: $dir/logs/$name.log)"
  done
}

# ---------------------------------------------------------------------------
# components (all state in DIR; ports chosen at start, recorded in DIR/ports)
# ---------------------------------------------------------------------------
save_port() { echo "$2=$3" >>"$1/ports"; eval "$2=$3"; }

start_etcd() {
  local dir=$1
  free_port; save_port "$dir" ETCD_PORT "$REPLY"
  free_port; save_port "$dir" ETCD_PEER_PORT "$REPLY"
  rm -rf "$dir/etcd"
  start_proc "$dir" etcd "$ETCD" \
    --name=testenv \
    --data-dir="$dir/etcd" \
    --listen-client-urls="http://127.0.0.1:$ETCD_PORT" \
    --advertise-client-urls="http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster="testenv=http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster-state=new \
    --unsafe-no-fsync \
    --log-level=warn
}
ready_etcd() {
  local out
  out=$(curl -fsS --max-time 2 "http://127.0.0.1:$ETCD_PORT/health") && [[ $out == *'"health":"true"'* ]]
}

start_kube-apiserver() {
  local dir=$1
  if [[ -n ${APISERVER_FIXED_PORT:-} ]]; then
    APISERVER_PORT=$APISERVER_FIXED_PORT   # restart-apiserver keeps the URL
  else
    free_port; save_port "$dir" APISERVER_PORT "$REPLY"
  fi
  start_proc "$dir" kube-apiserver "$KUBE_APISERVER" \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --bind-address=127.0.0.1 \
    --advertise-address=127.0.0.1 \
    --secure-port="$APISERVER_PORT" \
    --cert-dir="$dir/apiserver" \
    --tls-cert-file="$dir/pki/apiserver.crt" \
    --tls-private-key-file="$dir/pki/apiserver.key" \
    --client-ca-file="$dir/pki/ca.crt" \
    --token-auth-file="$dir/pki/tokens.csv" \
    --authorization-mode=Node,RBAC \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$dir/pki/sa.pub" \
    --service-account-signing-key-file="$dir/pki/sa.key" \
    --service-cluster-ip-range=10.0.0.0/24 \
    --allow-privileged=true \
    --endpoint-reconciler-type=none \
    --profiling=false
}
ready_kube-apiserver() {
  curl -fsS --max-time 3 --cacert "$1/pki/ca.crt" -H "Authorization: Bearer $ADMIN_TOKEN" \
    "https://127.0.0.1:$APISERVER_PORT/readyz"
}

start_kube-controller-manager() {
  local dir=$1
  free_port; save_port "$dir" KCM_PORT "$REPLY"
  start_proc "$dir" kube-controller-manager "$KUBE_CONTROLLER_MANAGER" \
    --kubeconfig="$dir/kubeconfig" \
    --authentication-kubeconfig="$dir/kubeconfig" \
    --authorization-kubeconfig="$dir/kubeconfig" \
    --authentication-skip-lookup=true \
    --bind-address=127.0.0.1 \
    --secure-port="$KCM_PORT" \
    --cert-dir="$dir/kcm" \
    --controllers=deployment,replicaset,serviceaccount-token,serviceaccount,garbagecollector,namespace \
    --use-service-account-credentials=false \
    --leader-elect=false \
    --service-account-private-key-file="$dir/pki/sa.key" \
    --root-ca-file="$dir/pki/ca.crt" \
    --profiling=false
}
ready_kube-controller-manager() { curl -fsSk --max-time 3 "https://127.0.0.1:$KCM_PORT/healthz"; }

start_prometheus() {
  local dir=$1
  if [[ -n ${PROMETHEUS_FIXED_PORT:-} ]]; then
    PROMETHEUS_PORT=$PROMETHEUS_FIXED_PORT   # restart-prometheus keeps the URL
  else
    free_port; save_port "$dir" PROMETHEUS_PORT "$REPLY"
  fi
  mkdir -p "$dir/prometheus"
  start_proc "$dir" prometheus "$PROMETHEUS" \
    --config.file="$dir/prometheus.yml" \
    --storage.tsdb.path="$dir/prometheus" \
    --storage.tsdb.retention.time="$PROM_RETENTION" \
    --web.listen-address="127.0.0.1:$PROMETHEUS_PORT" \
    --web.enable-admin-api \
    --web.enable-lifecycle
}
ready_prometheus() { curl -fsS --max-time 3 "http://127.0.0.1:$PROMETHEUS_PORT/-/ready"; }

# ---------------------------------------------------------------------------
# certificates, tokens, kubeconfig, prometheus config, env
# ---------------------------------------------------------------------------
make_pki() {
  local pki=$1/pki
  mkdir -p "$pki"
  chmod 0700 "$pki"
  cat >"$pki/openssl.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = sentinel-testenv
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign,digitalSignature
subjectKeyIdentifier = hash
[v3_server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = IP:127.0.0.1,DNS:localhost,IP:10.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
EOF
  {
    openssl req -x509 -new -nodes -newkey rsa:2048 -sha256 -days 3650 \
      -config "$pki/openssl.cnf" -extensions v3_ca -subj /CN=sentinel-testenv-ca \
      -keyout "$pki/ca.key" -out "$pki/ca.crt" &&
      openssl req -new -nodes -newkey rsa:2048 -sha256 -config "$pki/openssl.cnf" \
        -subj /CN=kube-apiserver -keyout "$pki/apiserver.key" -out "$pki/apiserver.csr" &&
      openssl x509 -req -sha256 -days 3650 -in "$pki/apiserver.csr" \
        -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -set_serial "0x$(openssl rand -hex 8)" \
        -extfile "$pki/openssl.cnf" -extensions v3_server -out "$pki/apiserver.crt" &&
      openssl genrsa -out "$pki/sa.key" 2048 &&
      openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub"
  } >"$1/logs/openssl.log" 2>&1 || { tail -n 20 "$1/logs/openssl.log" >&2; die "openssl failed (log: $1/logs/openssl.log)"; }
  ADMIN_TOKEN=$(openssl rand -hex 32)
  # token,user,uid,"group1,group2"
  printf '%s,admin,admin,"system:masters"\n' "$ADMIN_TOKEN" >"$pki/tokens.csv"
  echo "$ADMIN_TOKEN" >"$pki/admin.token"
  chmod 0600 "$pki"/*.key "$pki/tokens.csv" "$pki/admin.token"
}

write_kubeconfig() {
  local dir=$1 ca
  ca=$(base64 -w0 <"$dir/pki/ca.crt")
  cat >"$dir/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: sentinel-testenv
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority-data: $ca
users:
- name: admin
  user:
    token: $ADMIN_TOKEN
contexts:
- name: sentinel-testenv
  context:
    cluster: sentinel-testenv
    user: admin
    namespace: default
current-context: sentinel-testenv
EOF
  chmod 0600 "$dir/kubeconfig"
}

write_prometheus_config() {
  # No scrape jobs: tests backfill blocks (promtool) or add their own targets
  # (edit the file, then POST /-/reload).
  cat >"$1/prometheus.yml" <<'EOF'
global:
  scrape_interval: 5s
  evaluation_interval: 5s
scrape_configs: []
EOF
}

write_env() {
  local dir=$1
  {
    echo "# sentinel testenv — source this file"
    printf 'export KUBECONFIG=%q\n' "$dir/kubeconfig"
    printf 'export SENTINEL_TEST_KUBECONFIG=%q\n' "$dir/kubeconfig"
    printf 'export SENTINEL_TEST_PROMETHEUS_URL=%q\n' "http://127.0.0.1:$PROMETHEUS_PORT"
    printf 'export SENTINEL_TEST_PROMETHEUS_DATA=%q\n' "$dir/prometheus"
    printf 'export SENTINEL_TEST_PROMETHEUS_CONFIG=%q\n' "$dir/prometheus.yml"
    printf 'export SENTINEL_TEST_ENV_DIR=%q\n' "$dir"
    printf 'export HELM=%q\n' "$HELM"
    printf 'export PROMTOOL=%q\n' "$PROMTOOL"
    # shellcheck disable=SC2016 # $PATH is expanded when the file is sourced
    printf 'export PATH=%q:"$PATH"\n' "$HELM_DIR"
  } >"$dir/env.tmp"
  mv -f "$dir/env.tmp" "$dir/env"
}

# ---------------------------------------------------------------------------
# up / down
# ---------------------------------------------------------------------------
abs_dir() {
  mkdir -p "$1"
  (cd "$1" && pwd -P)
}

# env_running DIR — every component of DIR is alive.
env_running() {
  local dir=$1 name pid
  [[ -f $dir/env && -f $dir/$MARKER ]] || return 1
  for name in "${COMPONENTS[@]}"; do
    pid=$(pid_of "$dir" "$name")
    [[ -n $pid ]] && is_alive "$pid" && is_ours "$pid" "$dir" || return 1
  done
}

down_impl() {
  local dir=$1
  [[ -d $dir ]] || return 0
  dir=$(cd "$dir" && pwd -P)
  if [[ ! -f $dir/$MARKER ]]; then
    [[ -d $dir/pids ]] || return 0
    die "$dir has no $MARKER; refusing to touch it"
  fi
  # Clients of etcd first, so that its last moments log no lost connections.
  stop_procs "$dir" kube-controller-manager kube-apiserver prometheus
  stop_procs "$dir" etcd "${COMPONENTS[@]}"
  wait_reaped
  rm -rf "$dir/pids" "$dir/etcd" "$dir/prometheus" "$dir/pki" "$dir/apiserver" "$dir/kcm" \
    "$dir/kubeconfig" "$dir/env" "$dir/env.tmp" "$dir/prometheus.yml" "$dir/ports"
  rm -f "$dir/$MARKER"
  # Keep logs/ for post-mortems; remove DIR itself if that left it empty.
  rmdir "$dir" 2>/dev/null || true
}

up_impl() {
  local dir
  dir=$(abs_dir "$1")
  if env_running "$dir"; then
    log "already up in $dir (source $dir/env)"
    return 0
  fi
  if [[ -n $(ls -A "$dir") && ! -f $dir/$MARKER ]]; then
    # Only an old logs/ dir from an earlier `down` is fine.
    if [[ $(ls -A "$dir") != logs ]]; then
      die "$dir is not empty and not a testenv dir; pick a new or empty DIR"
    fi
  fi
  if [[ -f $dir/$MARKER ]]; then
    log "cleaning up stale state in $dir"
    down_impl "$dir"
    mkdir -p "$dir"
  fi

  if ! all_built; then
    cmd_build
  fi
  ensure_tools
  PROMETHEUS=$(command -v prometheus)
  PROMTOOL=$(command -v promtool)

  local t0
  t0=$(now_ms)
  CLEANUP_DOWN_DIR=$dir   # a half-done up is undone on exit
  : >"$dir/$MARKER"
  mkdir -p "$dir/logs" "$dir/pids"
  rm -f "$dir"/logs/*.log "$dir/ports"
  log "starting in $dir"
  make_pki "$dir"
  write_prometheus_config "$dir"

  start_component "$dir" etcd "$TIMEOUT_ETCD"
  start_component "$dir" kube-apiserver "$TIMEOUT_APISERVER"
  write_kubeconfig "$dir"
  start_component "$dir" kube-controller-manager "$TIMEOUT_KCM"
  start_component "$dir" prometheus "$TIMEOUT_PROMETHEUS"

  # The serviceaccount controller creates default/default; pods (created by
  # ReplicaSets) are only admitted once their namespace's default SA exists.
  if ! wait_ready "$dir" kube-controller-manager "$TIMEOUT_SA" \
    curl -fsS --max-time 3 --cacert "$dir/pki/ca.crt" -H "Authorization: Bearer $ADMIN_TOKEN" \
    "https://127.0.0.1:$APISERVER_PORT/api/v1/namespaces/default/serviceaccounts/default"; then
    log "ERROR: ServiceAccount default/default not created: $WAIT_ERROR"
    tail_log "$dir" kube-controller-manager
    die "controller manager is not working (log: $dir/logs/kube-controller-manager.log)"
  fi

  write_env "$dir"
  CLEANUP_DOWN_DIR=""
  log "up in $(since_ms "$t0"): apiserver https://127.0.0.1:$APISERVER_PORT, prometheus http://127.0.0.1:$PROMETHEUS_PORT"
  [[ -n $CLEANUP_RM_DIR ]] || log "use it with: source $dir/env"
}

cmd_up() {
  [[ $# == 1 && -n $1 ]] || die "usage: $0 up DIR"
  up_impl "$1"
}

cmd_down() {
  [[ $# == 1 && -n $1 ]] || die "usage: $0 down DIR"
  local t0
  t0=$(now_ms)
  down_impl "$1"
  log "down in $(since_ms "$t0")"
}

# restart-prometheus DIR — restart Prometheus on the same port and data dir, so
# that blocks just backfilled with `promtool tsdb create-blocks-from` are
# queryable at once (a running Prometheus picks them up only at its next
# block reload, within about a minute).
# restart-apiserver DIR — stop kube-apiserver and start it again on the same
# port, for tests of watch disconnects and relists.
cmd_restart_apiserver() {
  [[ $# == 1 && -n $1 ]] || die "usage: $0 restart-apiserver DIR"
  local dir start=$SECONDS
  [[ -d $1 ]] || die "$1 does not exist"
  dir=$(cd "$1" && pwd -P)
  [[ -f $dir/$MARKER && -f $dir/ports ]] || die "$dir is not a running testenv dir"
  APISERVER_FIXED_PORT=$(sed -n 's/^APISERVER_PORT=//p' "$dir/ports" | tail -n 1)
  ETCD_PORT=$(sed -n 's/^ETCD_PORT=//p' "$dir/ports" | tail -n 1)
  [[ -n $APISERVER_FIXED_PORT && -n $ETCD_PORT ]] || die "no apiserver or etcd port recorded in $dir/ports"
  ADMIN_TOKEN=$(cut -d, -f1 "$dir/pki/tokens.csv" | head -n 1)
  stop_procs "$dir" kube-apiserver
  start_component "$dir" kube-apiserver "$TIMEOUT_APISERVER"
  log "kube-apiserver restarted in $(fmt_secs $((SECONDS - start))) (https://127.0.0.1:$APISERVER_FIXED_PORT)"
}

cmd_restart_prometheus() {
  [[ $# == 1 && -n $1 ]] || die "usage: $0 restart-prometheus DIR"
  local dir start=$SECONDS
  [[ -d $1 ]] || die "$1 does not exist"
  dir=$(cd "$1" && pwd -P)
  [[ -f $dir/$MARKER && -f $dir/ports ]] || die "$dir is not a running testenv dir"
  PROMETHEUS_FIXED_PORT=$(sed -n 's/^PROMETHEUS_PORT=//p' "$dir/ports" | tail -n 1)
  [[ -n $PROMETHEUS_FIXED_PORT ]] || die "no Prometheus port recorded in $dir/ports"
  PROMETHEUS=$(command -v prometheus) || die "prometheus not on PATH (run: $0 build)"
  stop_procs "$dir" prometheus
  start_component "$dir" prometheus "$TIMEOUT_PROMETHEUS"
  log "prometheus restarted in $(fmt_secs $((SECONDS - start))) (http://127.0.0.1:$PROMETHEUS_PORT)"
}

# ---------------------------------------------------------------------------
# exec / smoke
# ---------------------------------------------------------------------------
temp_env_up() {
  local dir
  dir=$(mktemp -d "${TMPDIR:-/tmp}/sentinel-testenv.XXXXXX")
  CLEANUP_RM_DIR=$dir
  CLEANUP_DOWN_DIR=$dir
  CLEANUP_KEEP_LOGS=1     # if up fails, keep its logs
  up_impl "$dir"
  CLEANUP_KEEP_LOGS=0
  CLEANUP_DOWN_DIR=$dir   # up_impl clears it on success; exec still owns the env
  # shellcheck source=/dev/null
  source "$dir/env"
}

cmd_exec() {
  [[ ${1:-} == -- ]] && shift
  (($#)) || die "usage: $0 exec -- CMD ARGS..."
  temp_env_up
  local rc=0
  if [[ -t 0 ]]; then
    # Interactive: run in the foreground so the terminal (and ^C) reach CMD.
    "$@" || rc=$?
  else
    # Its own process group, so a TERM to this script kills all of CMD's tree.
    set -m
    "$@" &
    CHILD_PID=$!
    set +m
    wait "$CHILD_PID" || rc=$?
    CHILD_PID=""
  fi
  ((rc == 0)) || CLEANUP_KEEP_LOGS=1
  exit "$rc"
}

SMOKE_FAILED=0
pass() { printf 'PASS: %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*"; SMOKE_FAILED=1; }

# rs_revisions NS — "revision image" per ReplicaSet.
rs_revisions() {
  "$KUBECTL" -n "$1" get rs -o \
    jsonpath='{range .items[*]}{.metadata.annotations.deployment\.kubernetes\.io/revision}{" "}{.spec.template.spec.containers[0].image}{"\n"}{end}'
}
# wait_rs NS REVISION IMAGE — a ReplicaSet with that revision and image appears.
wait_rs() {
  local deadline=$((SECONDS + 60)) have
  while ((SECONDS < deadline)); do
    have=$(rs_revisions "$1" 2>/dev/null) || have=""
    if grep -qx "$2 $3" <<<"$have"; then return 0; fi
    sleep 0.5
  done
  return 1
}

smoke_checks() {
  local ns=smoke chart=$REPO_ROOT/testdata/chart out
  KUBECTL=${KUBECTL:-$(command -v kubectl || true)}
  [[ -n $KUBECTL ]] || die "smoke needs kubectl on PATH (or KUBECTL=/path/to/kubectl)"
  log "kubectl: $KUBECTL ($("$KUBECTL" version --client 2>/dev/null | head -n 1))"

  if out=$("$KUBECTL" version 2>&1) && grep -q "Server Version: $K8S_VERSION" <<<"$out"; then
    pass "kubectl talks to kube-apiserver $K8S_VERSION"
  else
    fail "kubectl version: $out"
  fi

  if out=$("$HELM" install demo "$chart" --namespace "$ns" --create-namespace 2>&1); then
    pass "helm install demo $chart"
  else
    fail "helm install: $out"
    return
  fi
  if wait_rs "$ns" 1 registry.example/demo:v1; then
    pass "ReplicaSet with revision 1 (registry.example/demo:v1)"
  else
    fail "no ReplicaSet with revision 1; have: $(rs_revisions "$ns" 2>&1 | tr '\n' ';')"
  fi

  if out=$("$KUBECTL" -n "$ns" set image deployment/demo app=registry.example/demo:v2 2>&1); then
    pass "kubectl set image → v2"
  else
    fail "kubectl set image: $out"
  fi
  if wait_rs "$ns" 2 registry.example/demo:v2; then
    pass "ReplicaSet with revision 2 (registry.example/demo:v2)"
  else
    fail "no ReplicaSet with revision 2; have: $(rs_revisions "$ns" 2>&1 | tr '\n' ';')"
  fi

  local managers
  # One line per managedFields entry: manager|operation|fieldsV1 (as JSON).
  managers=$("$KUBECTL" -n "$ns" get deploy demo --show-managed-fields \
    -o jsonpath='{range .metadata.managedFields[*]}{.manager}{"|"}{.operation}{"|"}{.fieldsV1}{"\n"}{end}' 2>&1) || true
  if grep -E '^kubectl-set\|' <<<"$managers" | grep -F '"f:image"' >/dev/null; then
    pass "managedFields: kubectl-set owns f:image"
  else
    fail "managedFields: no kubectl-set entry owning f:image; managers: $(cut -d'|' -f1,2 <<<"$managers" | tr '\n' ' ')"
  fi
  if grep -qE '^helm\|' <<<"$managers"; then
    pass "managedFields: helm entry present"
  else
    fail "managedFields: no helm entry; managers: $(cut -d'|' -f1,2 <<<"$managers" | tr '\n' ' ')"
  fi

  if out=$("$KUBECTL" -n "$ns" rollout undo deployment/demo 2>&1); then
    pass "kubectl rollout undo"
  else
    fail "kubectl rollout undo: $out"
  fi
  if wait_rs "$ns" 3 registry.example/demo:v1; then
    pass "rollout undo gives revision 3 (registry.example/demo:v1)"
  else
    fail "no ReplicaSet with revision 3 and v1; have: $(rs_revisions "$ns" 2>&1 | tr '\n' ';')"
  fi

  # RBAC is enforced: a fresh ServiceAccount's token may not list deployments.
  local token code
  if "$KUBECTL" -n "$ns" create serviceaccount reader >/dev/null 2>&1 &&
    token=$("$KUBECTL" -n "$ns" create token reader 2>/dev/null) && [[ -n $token ]]; then
    code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$SENTINEL_TEST_ENV_DIR/pki/ca.crt" \
      -H "Authorization: Bearer $token" \
      "$("$KUBECTL" config view --minify -o jsonpath='{.clusters[0].cluster.server}')/apis/apps/v1/namespaces/$ns/deployments")
    if [[ $code == 403 ]]; then
      pass "RBAC: ServiceAccount token is authenticated and denied (403)"
    else
      fail "RBAC: expected 403 for an unprivileged ServiceAccount, got $code"
    fi
  else
    fail "could not create a ServiceAccount token"
  fi

  if out=$(curl -fsS "$SENTINEL_TEST_PROMETHEUS_URL/api/v1/query?query=vector(1)" 2>&1) &&
    grep -q '"status":"success"' <<<"$out"; then
    pass "prometheus answers queries at $SENTINEL_TEST_PROMETHEUS_URL"
  else
    fail "prometheus query: $out"
  fi
  # Backfill an hour of samples with promtool, restart Prometheus, query them.
  local om=$SENTINEL_TEST_ENV_DIR/smoke.om now i
  now=$(date +%s)
  {
    echo '# TYPE sentinel_smoke_total counter'
    for ((i = 60; i >= 1; i--)); do
      echo "sentinel_smoke_total{deployment=\"demo\"} $((61 - i)) $((now - i * 60))"
    done
    echo '# EOF'
  } >"$om"
  if out=$("$PROMTOOL" tsdb create-blocks-from openmetrics "$om" "$SENTINEL_TEST_PROMETHEUS_DATA" 2>&1); then
    pass "promtool backfilled blocks into $SENTINEL_TEST_PROMETHEUS_DATA"
  else
    fail "promtool tsdb create-blocks-from openmetrics: $out"
  fi
  rm -f "$om"
  if out=$("$SCRIPT_DIR/testenv.sh" restart-prometheus "$SENTINEL_TEST_ENV_DIR" 2>&1); then
    pass "prometheus restarted on the same URL"
  else
    fail "restart-prometheus: $out"
  fi
  if out=$(curl -fsS -G "$SENTINEL_TEST_PROMETHEUS_URL/api/v1/query" \
    --data-urlencode 'query=count_over_time(sentinel_smoke_total{deployment="demo"}[2h])' 2>&1) &&
    [[ $out == *'"value":['*',"60"]'* ]]; then
    pass "backfilled samples are queryable (60 samples)"
  else
    fail "backfilled samples not queryable: $out"
  fi
}

cmd_smoke() {
  local start=$SECONDS
  temp_env_up
  smoke_checks
  log "smoke took $(fmt_secs $((SECONDS - start))) including up"
  if ((SMOKE_FAILED)); then
    CLEANUP_KEEP_LOGS=1
    echo "smoke: FAIL"
    exit 1
  fi
  echo "smoke: PASS"
}

# ---------------------------------------------------------------------------
usage() {
  cat >&2 <<EOF
usage:
  $0 build              build/install everything into $CACHE
  $0 up DIR             start etcd, kube-apiserver, kube-controller-manager, prometheus
  $0 down DIR           stop them and remove runtime state (logs are kept)
  $0 exec -- CMD ARGS   up in a temp dir, source its env, run CMD, down
  $0 smoke              check the environment with helm and kubectl
  $0 restart-prometheus DIR
                        restart Prometheus (same URL) to load backfilled blocks now
EOF
  exit 2
}

main() {
  local cmd=${1:-}
  shift || true
  case $cmd in
    build) cmd_build "$@" ;;
    up) cmd_up "$@" ;;
    down) cmd_down "$@" ;;
    exec) cmd_exec "$@" ;;
    smoke) cmd_smoke "$@" ;;
    restart-prometheus) cmd_restart_prometheus "$@" ;;
    restart-apiserver) cmd_restart_apiserver "$@" ;;
    -h | --help | help) usage ;;
    *) usage ;;
  esac
}

main "$@"
