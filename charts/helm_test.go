// Package charts holds sentinel's Helm chart (charts/sentinel); its tests
// lint and render the chart with the real helm, validate the rendered
// configuration with sentinel's own loader, compare the chart's RBAC with
// deploy/base, unit-test its alerts with promtool, and install, upgrade
// and uninstall it on the test API server.
package charts

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// helmBinary is the helm scripts/testenv.sh built ($HELM under
// testenv), else the one in its cache, else helm on PATH.
func helmBinary(t *testing.T) string {
	t.Helper()
	if h := os.Getenv("HELM"); h != "" {
		return h
	}
	home, _ := os.UserHomeDir()
	if m, _ := filepath.Glob(filepath.Join(home, ".cache", "sentinel", "helm-*", "helm")); len(m) > 0 {
		return m[len(m)-1]
	}
	h, err := exec.LookPath("helm")
	if err != nil {
		t.Fatal("no helm: run scripts/testenv.sh build (it builds helm into ~/.cache/sentinel)")
	}
	return h
}

// helm runs helm and returns its output; it fails the test on an error.
func helm(t *testing.T, args ...string) string {
	t.Helper()
	out, err := helmErr(t, args...)
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func helmErr(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(helmBinary(t), args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String() + stderr.String(), err
	}
	return stdout.String(), nil
}

const chartDir = "sentinel"

// allOptions is a values file that sets every option of the chart.
var allOptions = filepath.Join("testdata", "all-options.yaml")

// object is one rendered manifest.
type object struct {
	Kind     string
	Name     string
	raw      []byte
	manifest map[string]any
}

// render runs helm template and splits its output into objects.
func render(t *testing.T, args ...string) []object {
	t.Helper()
	out := helm(t, append([]string{"template", "sentinel", chartDir, "--namespace", "sentinel"}, args...)...)
	var objs []object
	for _, doc := range strings.Split(out, "\n---\n") {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			t.Fatalf("rendered YAML: %v\n%s", err, doc)
		}
		if m == nil {
			continue
		}
		meta, _ := m["metadata"].(map[string]any)
		name, _ := meta["name"].(string)
		kind, _ := m["kind"].(string)
		objs = append(objs, object{Kind: kind, Name: name, raw: []byte(doc), manifest: m})
	}
	return objs
}

func kinds(objs []object) map[string]int {
	k := map[string]int{}
	for _, o := range objs {
		k[o.Kind]++
	}
	return k
}

func only(t *testing.T, objs []object, kind string) object {
	t.Helper()
	var found []object
	for _, o := range objs {
		if o.Kind == kind {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d %s objects rendered, want 1", len(found), kind)
	}
	return found[0]
}
