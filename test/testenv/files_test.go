package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/client-go/tools/clientcmd"
)

// fakeEnv is an Env as Start leaves it, without processes.
func fakeEnv(t *testing.T) *Env {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "it's here")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return &Env{Dir: dir, ports: ports{apiserver: 20001, prometheus: 20002},
		opts: Options{KubeVersion: "v1.34.4", Binaries: Binaries{Etcd: "/c/etcd", KubeAPIServer: "/c/kube-apiserver",
			KubeControllerManager: "/c/kcm", Prometheus: "/usr/bin/prometheus", Promtool: "/usr/bin/promtool",
			Helm: "/c/helm-v3/helm"}}}
}

func TestWriteKubeconfig(t *testing.T) {
	e := fakeEnv(t)
	p := pki{ca: []byte("-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n"), token: "secret"}
	if err := writeKubeconfig(e.path(kubeconfigFile), e.APIServerURL(), p); err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.LoadFromFile(e.path(kubeconfigFile))
	if err != nil {
		t.Fatal(err)
	}
	ctx := cfg.Contexts[cfg.CurrentContext]
	got := []string{cfg.Clusters[ctx.Cluster].Server, string(cfg.Clusters[ctx.Cluster].CertificateAuthorityData),
		cfg.AuthInfos[ctx.AuthInfo].Token, ctx.Namespace}
	want := []string{"https://127.0.0.1:20001", string(p.ca), "secret", "default"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("kubeconfig (-want +got):\n%s", diff)
	}
}

// DIR/env, sourced by a shell, sets exactly what the tests read, even
// where a path holds a quote.
func TestEnvFileSourced(t *testing.T) {
	e := fakeEnv(t)
	if err := e.writeEnvFile(); err != nil {
		t.Fatal(err)
	}
	names := []string{"KUBECONFIG", VarKubeconfig, VarPrometheusURL, VarPrometheusData, VarPrometheusConfig,
		VarDir, VarKubeVersion, "HELM", "PROMTOOL", varEtcd, varKubeAPIServer, varKubeControllerManager, varPrometheus}
	script := `source "$1"; shift; for v in "$@"; do printf '%s=%s\n' "$v" "${!v}"; done; printf 'PATH=%s\n' "${PATH%%:*}"`
	out, err := exec.Command("bash", append([]string{"-c", script, "bash", e.path(envFile)}, names...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("source env: %v\n%s", err, out)
	}
	want := []string{
		"KUBECONFIG=" + e.Dir + "/kubeconfig",
		VarKubeconfig + "=" + e.Dir + "/kubeconfig",
		VarPrometheusURL + "=http://127.0.0.1:20002",
		VarPrometheusData + "=" + e.Dir + "/prometheus",
		VarPrometheusConfig + "=" + e.Dir + "/prometheus.yml",
		VarDir + "=" + e.Dir,
		VarKubeVersion + "=v1.34.4",
		"HELM=/c/helm-v3/helm",
		"PROMTOOL=/usr/bin/promtool",
		varEtcd + "=/c/etcd",
		varKubeAPIServer + "=/c/kube-apiserver",
		varKubeControllerManager + "=/c/kcm",
		varPrometheus + "=/usr/bin/prometheus",
		"PATH=/c/helm-v3",
	}
	if diff := cmp.Diff(want, strings.Split(strings.TrimSpace(string(out)), "\n")); diff != "" {
		t.Errorf("sourced env (-want +got):\n%s", diff)
	}
}

// The command under exec gets the environment's variables over any it
// inherited, and helm first on PATH; Lookup reads them back.
func TestEnvironLookup(t *testing.T) {
	e := fakeEnv(t)
	environ := e.Environ([]string{"HOME=/root", VarKubeconfig + "=/stale", "PATH=/usr/bin:/bin"})
	get := func(name string) string {
		var v string
		for _, kv := range environ {
			if k, val, _ := strings.Cut(kv, "="); k == name {
				v = val // the last one wins, as in execve
			}
		}
		return v
	}
	info, ok := Lookup(get)
	want := Info{Dir: e.Dir, Kubeconfig: e.Dir + "/kubeconfig", PrometheusURL: "http://127.0.0.1:20002",
		PrometheusData: e.Dir + "/prometheus", KubeVersion: "v1.34.4", Helm: "/c/helm-v3/helm", Promtool: "/usr/bin/promtool"}
	if diff := cmp.Diff(want, info); diff != "" || !ok {
		t.Errorf("Lookup ok=%v (-want +got):\n%s", ok, diff)
	}
	if diff := cmp.Diff([]string{"/root", "/c/helm-v3:/usr/bin:/bin"}, []string{get("HOME"), get("PATH")}); diff != "" {
		t.Errorf("HOME, PATH (-want +got):\n%s", diff)
	}
	if _, ok := Lookup(func(string) string { return "" }); ok {
		t.Error("Lookup found an environment in an empty one")
	}
}

func TestOptionsFromEnv(t *testing.T) {
	base := map[string]string{varEtcd: "/e", varKubeAPIServer: "/a", varKubeControllerManager: "/k",
		varPrometheus: "/p", "PROMTOOL": "/t", "HELM": "/h"}
	tests := []struct {
		name    string
		set     map[string]string
		unset   string
		wantAPI time.Duration
		wantErr string
	}{
		{name: "defaults", wantAPI: 120 * time.Second},
		{name: "override", set: map[string]string{"SENTINEL_TESTENV_TIMEOUT_APISERVER": "7"}, wantAPI: 7 * time.Second},
		{name: "bad timeout", set: map[string]string{"SENTINEL_TESTENV_TIMEOUT_APISERVER": "7s"},
			wantErr: `SENTINEL_TESTENV_TIMEOUT_APISERVER: want a positive number of seconds, got "7s"`},
		{name: "no etcd", unset: varEtcd,
			wantErr: varEtcd + " is not set: run scripts/testenv.sh, which builds and names the binaries"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vars := map[string]string{}
			for k, v := range base {
				vars[k] = v
			}
			for k, v := range tt.set {
				vars[k] = v
			}
			delete(vars, tt.unset)
			o, err := OptionsFromEnv(func(k string) string { return vars[k] }, nil, nil)
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if diff := cmp.Diff(tt.wantErr, gotErr); diff != "" {
				t.Fatalf("error (-want +got):\n%s", diff)
			}
			if err == nil && o.Timeouts["kube-apiserver"] != tt.wantAPI {
				t.Errorf("apiserver timeout %v, want %v", o.Timeouts["kube-apiserver"], tt.wantAPI)
			}
		})
	}
}
