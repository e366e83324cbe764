package e2e

import (
	"fmt"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/sentinel-sre/sentinel/test/fakepd"
)

// podmanFlags are what podman needs on this machine (docs/testenv.md):
// vfs storage (no overlay in the sandbox), Debian's runc, cgroupfs (no
// systemd), the host network (the test cluster and Prometheus listen on
// loopback), and ulimits within the sandbox's hard limits (podman's
// default nofile of 1048576 makes runc fail with "error setting rlimits").
var podmanFlags = []string{"--runtime", "runc", "--cgroup-manager", "cgroupfs", "--network", "host",
	"--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"}

// containers runs buildah and podman on a private store, removed when
// the test ends.
type containers struct {
	store []string
}

func needContainers(t *testing.T) *containers {
	t.Helper()
	for _, tool := range []string{"buildah", "podman", "runc"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("SENTINEL_E2E") == "required" {
				t.Fatalf("%s not installed (scripts/test.sh installs buildah, podman and runc): %v", tool, err)
			}
			t.Skipf("%s not installed: apt-get install buildah podman runc, or run scripts/test.sh", tool)
		}
	}
	dir, err := os.MkdirTemp("", "sentinel-containers-")
	if err != nil {
		t.Fatal(err)
	}
	c := &containers{store: []string{"--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "run"),
		"--storage-driver", "vfs"}}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return c
}

func (c *containers) run(t *testing.T, tool string, args ...string) string {
	t.Helper()
	out, err := exec.Command(tool, append(append([]string{}, c.store...), args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", tool, strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// buildImage assembles the runtime image without Docker and without
// pulling anything: an empty base, the static binary, the machine's CA
// bundle (for PagerDuty and Prometheus over TLS) and a non-root user —
// what the Dockerfile's distroless static:nonroot stage gives.
func (c *containers) buildImage(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "sentinel")
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version=e2e", "-o", bin, "../../cmd/sentinel")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build a static sentinel: %v\n%s", err, out)
	}
	const ca = "/etc/ssl/certs/ca-certificates.crt"
	if _, err := os.Stat(ca); err != nil {
		t.Fatalf("no CA bundle to copy into the image (apt-get install ca-certificates): %v", err)
	}
	for name, content := range map[string]string{
		"passwd": "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n",
		"group":  "root:x:0:\nnonroot:x:65532:\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const image = "localhost/sentinel:e2e"
	ctr := c.run(t, "buildah", "from", "scratch")
	c.run(t, "buildah", "copy", "--chmod", "0755", ctr, bin, "/sentinel")
	c.run(t, "buildah", "copy", ctr, ca, ca)
	c.run(t, "buildah", "copy", ctr, filepath.Join(dir, "passwd"), "/etc/passwd")
	c.run(t, "buildah", "copy", ctr, filepath.Join(dir, "group"), "/etc/group")
	c.run(t, "buildah", "config", "--user", "65532:65532", "--port", "8080", "--entrypoint", `["/sentinel"]`,
		"--cmd", `["run", "--config", "/etc/sentinel/config.yaml"]`, "--stop-signal", "SIGTERM", ctr)
	c.run(t, "buildah", "commit", "--rm", ctr, image)
	if u := c.run(t, "podman", "image", "inspect", "--format", "{{.Config.User}}", image); u != "65532:65532" {
		t.Fatalf("image user %q, want the non-root 65532:65532", u)
	}
	return image
}

// The runtime image, built here with buildah and run with podman as the
// chart's pod runs it (the chart's ConfigMap, the in-cluster ServiceAccount
// configuration, a read-only root filesystem, no capabilities, non-root)
// against the test cluster, a real Prometheus and the fake PagerDuty: it
// becomes ready, takes the Lease, rolls back a `kubectl set image` as the
// process does, and on SIGTERM stops within its grace period and releases
// the Lease.
func TestContainer(t *testing.T) {
	c := needCluster(t)
	ctrs := needContainers(t)
	image := ctrs.buildImage(t)

	ns := c.namespace(t, "e2e-container")
	c.install(t, ns)
	exp := httptest.NewServer(&exporter{client: c.client, ns: ns})
	t.Cleanup(exp.Close)
	promURL := startPrometheus(t, strings.TrimPrefix(exp.URL, "http://"))
	pd := fakepd.New(t)

	// The pod's view, read-only and readable by the image's user: the
	// chart's ConfigMap at /etc/sentinel, and the ServiceAccount's token
	// and CA where client-go's in-cluster configuration reads them.
	etc, secrets := t.TempDir(), t.TempDir()
	for _, d := range []string{etc, secrets} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	sa := c.serviceAccount(t, "sentinel")
	for name, content := range map[string][]byte{"token": []byte(sa.BearerToken), "ca.crt": caData(t, c)} {
		if err := os.WriteFile(filepath.Join(secrets, name), content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	apiserver, err := url.Parse(sa.Host)
	if err != nil {
		t.Fatal(err)
	}
	port, lease, pod := freePort(t), "sentinel-"+ns, "sentinel-container"
	cfg := chartConfig(t, c, fmt.Sprintf(`config:
  detection: {poll_interval: 1s, rate_window: 4s, for: 2s, resolve_after: 3s}
  rollback: {healthy: {min_duration: 3s}}
  kubernetes: {namespaces: [%q], verify_timeout: 20s}
  metrics: {query_delay: 300ms, prometheus: {url: %q, timeout: 650ms}}
  paging: {pagerduty: {enabled: true, url: %q}}
  run:
    listen_address: "127.0.0.1:%d"
    leader_election: {lease_name: %q, lease_duration: 4s, renew_deadline: 3s, retry_period: 1s}
pagerduty: {existingSecret: sentinel-pagerduty}
`, ns, promURL, pd.EnqueueURL(), port, lease))
	if err := os.WriteFile(filepath.Join(etc, "config.yaml"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}

	const grace = 20 // seconds: the Deployment's terminationGracePeriodSeconds, shortened
	name := "sentinel-" + ns
	args := append([]string{"run", "--detach", "--name", name, "--read-only", "--cap-drop", "ALL",
		"--security-opt", "no-new-privileges", "--stop-timeout", fmt.Sprint(grace),
		"--volume", etc + ":/etc/sentinel:ro", "--volume", secrets + ":/var/run/secrets/kubernetes.io/serviceaccount:ro",
		"--env", "KUBERNETES_SERVICE_HOST=" + apiserver.Hostname(), "--env", "KUBERNETES_SERVICE_PORT=" + apiserver.Port(),
		"--env", "POD_NAME=" + pod, "--env", "POD_NAMESPACE=sentinel",
		"--env", "PAGERDUTY_ROUTING_KEY=" + strings.Repeat("k", 32)}, podmanFlags...)
	ctrs.run(t, "podman", append(args, image)...)
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := exec.Command("podman", append(append([]string{}, ctrs.store...), "logs", name)...).CombinedOutput()
			t.Logf("container log:\n%s", out)
		}
		_, _ = exec.Command("podman", append(append([]string{}, ctrs.store...), "rm", "--force", "--time", "0", name)...).CombinedOutput()
	})
	p := &process{name: "the container", port: port}
	eventually(t, 60*time.Second, "the container ready (/readyz)", p.ready)
	holder := func() string {
		l, err := c.client.CoordinationV1().Leases("sentinel").Get(t.Context(), lease, metav1.GetOptions{})
		if err != nil || l.Spec.HolderIdentity == nil {
			return ""
		}
		return *l.Spec.HolderIdentity
	}
	eventually(t, 30*time.Second, "the container holding the Lease", func() bool { return holder() == pod })
	waitHealthy(t, 1, p)

	c.kubectl(t, "-n", ns, "set", "image", "deployment/demo", "app=registry.example/demo:v2")
	eventually(t, 60*time.Second, "the page", func() bool { return len(pd.Events()) > 0 })
	eventually(t, 60*time.Second, "the rollback to v1", func() bool {
		return imageOf(c.deployment(t, ns)) == "registry.example/demo:v1"
	})
	if m := imageManager(t, c.deployment(t, ns)); m != "sentinel" {
		t.Errorf("the image is owned by %q after the rollback, want sentinel", m)
	}

	start := time.Now()
	ctrs.run(t, "podman", "stop", "--time", fmt.Sprint(grace), name)
	took := time.Since(start)
	t.Logf("stopped %s after SIGTERM", took)
	if took >= grace*time.Second {
		t.Errorf("stopping took %s, not within the %ds grace period", took, grace)
	}
	if code := ctrs.run(t, "podman", "inspect", "--format", "{{.State.ExitCode}}", name); code != "0" {
		t.Errorf("exit code %s after SIGTERM, want 0 (a clean stop, not a kill)", code)
	}
	if h := holder(); h != "" {
		t.Errorf("Lease still held by %q after the container stopped", h)
	}
}

// chartConfig is the configuration the Helm chart renders into its
// ConfigMap for the given values.
func chartConfig(t *testing.T, c *cluster, values string) []byte {
	t.Helper()
	f := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(f, []byte(values), 0o600); err != nil {
		t.Fatal(err)
	}
	out := c.helmCmd(t, "template", "sentinel", filepath.Join("..", "..", "charts", "sentinel"), "--namespace", "sentinel",
		"-f", f, "--show-only", "templates/configmap.yaml")
	var cm struct {
		Data map[string]string `json:"data"`
	}
	if err := yaml.Unmarshal([]byte(out), &cm); err != nil || cm.Data["config.yaml"] == "" {
		t.Fatalf("the chart's ConfigMap (%v):\n%s", err, out)
	}
	return []byte(cm.Data["config.yaml"])
}
