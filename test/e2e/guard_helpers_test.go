package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/guard"
)

// attempt runs a command that may fail (a refusal is an outcome here),
// with extra environment, and returns its combined output.
func (c *cluster) attempt(t *testing.T, env []string, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(append(os.Environ(), "KUBECONFIG="+c.kubeconfig), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// editor writes a KUBE_EDITOR script that replaces old with new in the
// file kubectl edit opens, as a person in vi would.
func editor(t *testing.T, old, new string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "editor.sh")
	script := "#!/bin/sh\nsed -i 's|" + old + "|" + new + "|' \"$1\"\n"
	if err := os.WriteFile(f, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	return f
}

// applyFile writes manifest to a file and kubectl-applies it with extra
// flags (such as --token of another identity).
func (c *cluster) applyFile(t *testing.T, manifest []byte, flags ...string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "manifest.yaml")
	if err := os.WriteFile(f, manifest, 0o600); err != nil {
		t.Fatal(err)
	}
	return c.kubectl(t, append(flags, "apply", "-f", f)...)
}

// guardConfig is the configuration the guard is rendered from: sentinel
// watches ns and trusts helm.
func guardConfig(ns string) config.Config {
	cfg := testConfig(ns)
	cfg.Rollback.TrustedManagers = []string{"helm"}
	return cfg
}

// renderGuard renders the guard for cfg in mode, as `sentinel guard
// render` does.
func renderGuard(t *testing.T, cfg config.Config, mode guard.Mode) []byte {
	t.Helper()
	b, err := guard.Manifest(cfg, mode)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// deleteGuard removes the guard when the test ends, as the identity of
// kubeconfig (the installer's, which must be allowed to).
func (c *cluster) deleteGuard(t *testing.T, kubeconfig string) {
	t.Cleanup(func() {
		out, err := exec.Command("kubectl", "--kubeconfig", kubeconfig, "delete", "--ignore-not-found",
			"validatingadmissionpolicybinding/"+guard.PolicyName, "validatingadmissionpolicy/"+guard.PolicyName).CombinedOutput()
		if err != nil {
			t.Errorf("delete the guard: %v\n%s", err, out)
		}
	})
}

// waitGuard waits until a server-side dry run of an image change of
// deploy/name shows the guard in force: refused (deny) or warned (warn).
// The API server needs a moment to compile a new or changed policy.
func (c *cluster) waitGuard(t *testing.T, ns, name string, mode guard.Mode) {
	t.Helper()
	eventually(t, 30*time.Second, "the guard in "+string(mode)+" mode", func() bool {
		out, err := c.attempt(t, nil, "kubectl", "-n", ns, "set", "image", "deployment/"+name,
			"app=registry.example/demo:dry-run", "--dry-run=server")
		refused := strings.Contains(out, "sentinel admission guard")
		if mode == guard.Deny || mode == guard.Identity {
			return err != nil && refused
		}
		return err == nil && refused && strings.Contains(out, "Warning:")
	})
}

var breakGlassHint = regexp.MustCompile(`sentinel\.dev/break-glass=<reason> \(new\) and sentinel\.dev/break-glass-by=\S+ in the same request`)

// whoami is the admin's user name as the API server sees it.
func (c *cluster) whoami(t *testing.T) string {
	t.Helper()
	return strings.TrimSpace(c.kubectl(t, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"))
}

func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o600) }

// kubeconfigWithToken writes the cluster's kubeconfig with another
// identity's bearer token, so the token never appears on a command line.
func (c *cluster) kubeconfigWithToken(t *testing.T, token string) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(c.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, ai := range cfg.AuthInfos {
		ai.Token, ai.ClientCertificateData, ai.ClientKeyData = token, nil, nil
	}
	f := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, f); err != nil {
		t.Fatal(err)
	}
	return f
}
