package testenv

import (
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"time"

	"k8s.io/utils/clock"
)

// Binaries are the programs an environment runs. scripts/testenv.sh
// builds the first three into its cache and passes their paths in
// SENTINEL_TESTENV_* variables; Prometheus and promtool come from Debian.
type Binaries struct {
	Etcd, KubeAPIServer, KubeControllerManager, Prometheus, Promtool, Helm string
}

// The variables Binaries are read from; DIR/env exports them again so a
// test can start an environment of its own.
const (
	varEtcd                  = "SENTINEL_TESTENV_ETCD"
	varKubeAPIServer         = "SENTINEL_TESTENV_KUBE_APISERVER"
	varKubeControllerManager = "SENTINEL_TESTENV_KUBE_CONTROLLER_MANAGER"
	varPrometheus            = "SENTINEL_TESTENV_PROMETHEUS"
)

func (b Binaries) vars() map[string]string {
	return map[string]string{varEtcd: b.Etcd, varKubeAPIServer: b.KubeAPIServer,
		varKubeControllerManager: b.KubeControllerManager, varPrometheus: b.Prometheus}
}

// Options configure Start.
type Options struct {
	Binaries Binaries
	// KubeVersion is the version the Kubernetes binaries report; tests
	// read it as SENTINEL_TEST_KUBE_VERSION.
	KubeVersion string
	// Timeouts bound each component's readiness wait, by component name;
	// "serviceaccount" bounds the wait for default/default. Unset ones
	// take their defaults.
	Timeouts map[string]time.Duration
	// Retention is Prometheus's --storage.tsdb.retention.time: tests
	// backfill old blocks, which must not be deleted.
	Retention string
	// Log receives one line per step ("testenv: etcd ready (0.5s)");
	// nil for none.
	Log io.Writer
	// Clock times the steps for Log; nil for the real one.
	Clock clock.PassiveClock
}

// timeoutDefaults are the readiness timeouts by component, with the
// variables (seconds) that override them; generous, as the machine may be
// loaded by builds.
func timeoutDefaults() []struct {
	name, env string
	d         time.Duration
} {
	return []struct {
		name, env string
		d         time.Duration
	}{
		{"etcd", "SENTINEL_TESTENV_TIMEOUT_ETCD", 60 * time.Second},
		{"kube-apiserver", "SENTINEL_TESTENV_TIMEOUT_APISERVER", 120 * time.Second},
		{"kube-controller-manager", "SENTINEL_TESTENV_TIMEOUT_KCM", 60 * time.Second},
		{"prometheus", "SENTINEL_TESTENV_TIMEOUT_PROMETHEUS", 60 * time.Second},
		{"serviceaccount", "SENTINEL_TESTENV_TIMEOUT_SA", 60 * time.Second},
	}
}

// timeout is the readiness timeout for a component, its default if unset.
func (o Options) timeout(name string) time.Duration {
	if d := o.Timeouts[name]; d > 0 {
		return d
	}
	for _, td := range timeoutDefaults() {
		if td.name == name {
			return td.d
		}
	}
	return time.Minute
}

// OptionsFromEnv reads Options from the variables scripts/testenv.sh sets
// (getenv is os.Getenv outside tests). Prometheus and promtool default to
// the ones on PATH.
func OptionsFromEnv(getenv func(string) string, log io.Writer, clk clock.PassiveClock) (Options, error) {
	o := Options{
		Binaries: Binaries{Etcd: getenv(varEtcd), KubeAPIServer: getenv(varKubeAPIServer),
			KubeControllerManager: getenv(varKubeControllerManager), Prometheus: getenv(varPrometheus),
			Promtool: getenv("PROMTOOL"), Helm: getenv("HELM")},
		KubeVersion: getenv(VarKubeVersion),
		Timeouts:    map[string]time.Duration{},
		Retention:   getenv("SENTINEL_TESTENV_PROM_RETENTION"),
		Log:         log,
		Clock:       clk,
	}
	if o.Retention == "" {
		o.Retention = "3650d"
	}
	for _, td := range timeoutDefaults() {
		o.Timeouts[td.name] = td.d
		if s := getenv(td.env); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n <= 0 {
				return Options{}, fmt.Errorf("%s: want a positive number of seconds, got %q", td.env, s)
			}
			o.Timeouts[td.name] = time.Duration(n) * time.Second
		}
	}
	for _, lp := range []struct {
		path *string
		name string
	}{{&o.Binaries.Prometheus, "prometheus"}, {&o.Binaries.Promtool, "promtool"}} {
		if *lp.path == "" {
			*lp.path, _ = exec.LookPath(lp.name)
		}
	}
	return o, o.validate()
}

func (o Options) validate() error {
	for name, path := range map[string]string{varEtcd: o.Binaries.Etcd, varKubeAPIServer: o.Binaries.KubeAPIServer,
		varKubeControllerManager: o.Binaries.KubeControllerManager, "prometheus (PATH or " + varPrometheus + ")": o.Binaries.Prometheus,
		"promtool (PATH or PROMTOOL)": o.Binaries.Promtool, "HELM": o.Binaries.Helm} {
		if path == "" {
			return fmt.Errorf("%s is not set: run scripts/testenv.sh, which builds and names the binaries", name)
		}
	}
	return nil
}

// Info is what a test knows of the running environment, from the
// variables `testenv.sh exec` set.
type Info struct {
	Dir, Kubeconfig, PrometheusURL, PrometheusData, KubeVersion, Helm, Promtool string
}

// Lookup reads Info; ok is false when no environment is running (the
// test was started by hand, outside scripts/testenv.sh exec).
func Lookup(getenv func(string) string) (info Info, ok bool) {
	info = Info{Dir: getenv(VarDir), Kubeconfig: getenv(VarKubeconfig), PrometheusURL: getenv(VarPrometheusURL),
		PrometheusData: getenv(VarPrometheusData), KubeVersion: getenv(VarKubeVersion),
		Helm: getenv("HELM"), Promtool: getenv("PROMTOOL")}
	return info, info.Kubeconfig != ""
}
