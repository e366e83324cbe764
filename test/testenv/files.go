package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// The environment variables a running environment hands to the tests
// (DIR/env exports them; `exec` sets them for its command). Tests read
// them with Lookup.
const (
	VarKubeconfig       = "SENTINEL_TEST_KUBECONFIG"
	VarPrometheusURL    = "SENTINEL_TEST_PROMETHEUS_URL"
	VarPrometheusData   = "SENTINEL_TEST_PROMETHEUS_DATA"
	VarPrometheusConfig = "SENTINEL_TEST_PROMETHEUS_CONFIG"
	VarDir              = "SENTINEL_TEST_ENV_DIR"
	VarKubeVersion      = "SENTINEL_TEST_KUBE_VERSION"
)

// Files of an environment's DIR.
const (
	marker         = ".sentinel-testenv"
	kubeconfigFile = "kubeconfig"
	envFile        = "env"
	promConfigFile = "prometheus.yml"
	socketFile     = "control.sock"
	// SupervisorPidFile holds the pid of up's background supervisor.
	SupervisorPidFile = "supervisor.pid"
	logsDir           = "logs"
	pkiDir            = "pki"
)

// runtimeState is what Stop removes from DIR; logs/ stays for post-mortems.
func runtimeState() []string {
	return []string{"etcd", "prometheus", pkiDir, "apiserver", "kcm", kubeconfigFile, envFile,
		envFile + ".tmp", promConfigFile, socketFile, SupervisorPidFile, marker}
}

// writeKubeconfig writes the admin kubeconfig for the apiserver at url.
func writeKubeconfig(path, url string, p pki) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["sentinel-testenv"] = &clientcmdapi.Cluster{Server: url, CertificateAuthorityData: p.ca}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: p.token}
	cfg.Contexts["sentinel-testenv"] = &clientcmdapi.Context{Cluster: "sentinel-testenv", AuthInfo: "admin", Namespace: "default"}
	cfg.CurrentContext = "sentinel-testenv"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return os.Chmod(path, 0o600)
}

// prometheusConfig has no scrape jobs: tests backfill blocks (promtool) or
// add their own targets (edit the file, then POST /-/reload).
const prometheusConfig = `global:
  scrape_interval: 5s
  evaluation_interval: 5s
scrape_configs: []
`

// Vars is the environment the tests get, by name.
func (e *Env) Vars() map[string]string {
	v := map[string]string{
		"KUBECONFIG":        e.path(kubeconfigFile),
		VarKubeconfig:       e.path(kubeconfigFile),
		VarPrometheusURL:    e.PrometheusURL(),
		VarPrometheusData:   e.path("prometheus"),
		VarPrometheusConfig: e.path(promConfigFile),
		VarDir:              e.Dir,
		VarKubeVersion:      e.opts.KubeVersion,
		"HELM":              e.opts.Binaries.Helm,
		"PROMTOOL":          e.opts.Binaries.Promtool,
	}
	for name, b := range e.opts.Binaries.vars() {
		v[name] = b
	}
	return v
}

// Environ is environ with Vars set and helm's directory first on PATH.
func (e *Env) Environ(environ []string) []string {
	vars := e.Vars()
	out := make([]string, 0, len(environ)+len(vars))
	path := ""
	for _, kv := range environ {
		name, value, _ := strings.Cut(kv, "=")
		if name == "PATH" {
			path = value
		}
		if _, ours := vars[name]; !ours && name != "PATH" {
			out = append(out, kv)
		}
	}
	for _, name := range sortedKeys(vars) {
		out = append(out, name+"="+vars[name])
	}
	return append(out, "PATH="+filepath.Dir(e.opts.Binaries.Helm)+string(os.PathListSeparator)+path)
}

// writeEnvFile writes DIR/env, for `source DIR/env` in a shell.
func (e *Env) writeEnvFile() error {
	var b strings.Builder
	b.WriteString("# sentinel testenv — source this file\n")
	vars := e.Vars()
	for _, name := range sortedKeys(vars) {
		fmt.Fprintf(&b, "export %s=%s\n", name, shellQuote(vars[name]))
	}
	fmt.Fprintf(&b, "export PATH=%s:\"$PATH\"\n", shellQuote(filepath.Dir(e.opts.Binaries.Helm)))
	return writeFile(e.Dir, envFile, []byte(b.String()))
}

// shellQuote quotes s for a POSIX shell: in single quotes, each quote
// inside closed, escaped and reopened.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
