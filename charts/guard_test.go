package charts

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	"sigs.k8s.io/yaml"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/guard"
)

var guardTemplate = filepath.Join(chartDir, "templates", "admission-guard.yaml")

// templates/admission-guard.yaml is guard.ChartTemplate's, byte for byte
// (run with -update to rewrite it).
func TestAdmissionGuardTemplate(t *testing.T) {
	want, err := guard.ChartTemplate()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(guardTemplate, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(guardTemplate)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s is not guard.ChartTemplate's (go test ./charts -run TestAdmissionGuardTemplate -update) (-want +got):\n%s", guardTemplate, diff)
	}
}

// The chart renders the guard only when asked to, and then exactly what
// `sentinel guard render` prints for the configuration in the chart's
// ConfigMap and the chart's mode (labels apart: the chart adds its own).
func TestAdmissionGuardEqualsRender(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		mode guard.Mode // "": the guard is not rendered
	}{
		{name: "off by default"},
		{name: "on, default mode", args: []string{"--set", "admissionGuard.enabled=true"}, mode: guard.Warn},
		{name: "namespaces, trusted managers, audit", mode: guard.Audit, args: []string{"--set", "admissionGuard.enabled=true",
			"--set", "admissionGuard.mode=audit", "--set", "config.kubernetes.namespaces={shop,pay,shop}",
			"--set", "config.rollback.trusted_managers={sentinel,argocd-controller,helm,helm}"}},
		{name: "all options", args: []string{"-f", allOptions}, mode: guard.Deny},
		{name: "identity", args: []string{"--set", "admissionGuard.enabled=true", "--set", "admissionGuard.mode=identity"},
			mode: guard.Identity},
		{name: "all options, identity", args: []string{"-f", allOptions, "--set", "admissionGuard.mode=identity"},
			mode: guard.Identity},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := render(t, tc.args...)
			var policies, bindings []object
			for _, o := range objs {
				switch o.Kind {
				case "ValidatingAdmissionPolicy":
					policies = append(policies, o)
				case "ValidatingAdmissionPolicyBinding":
					bindings = append(bindings, o)
				}
			}
			if tc.mode == "" {
				if len(policies)+len(bindings) != 0 {
					t.Fatalf("the guard is rendered with admissionGuard.enabled=false")
				}
				return
			}
			if len(policies) != 1 || len(bindings) != 1 {
				t.Fatalf("%d policies and %d bindings rendered, want 1 and 1", len(policies), len(bindings))
			}
			path := filepath.Join(t.TempDir(), "config.yaml")
			if err := os.WriteFile(path, renderedConfig(t, objs), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			wantPolicy, wantBinding, err := guard.Render(cfg, tc.mode)
			if err != nil {
				t.Fatal(err)
			}
			var gotPolicy admissionv1.ValidatingAdmissionPolicy
			var gotBinding admissionv1.ValidatingAdmissionPolicyBinding
			strictly(t, policies[0].raw, &gotPolicy)
			strictly(t, bindings[0].raw, &gotBinding)
			for _, m := range []*map[string]string{&gotPolicy.Labels, &gotBinding.Labels} {
				if (*m)["app.kubernetes.io/component"] != "admission-guard" {
					t.Errorf("labels %v lack app.kubernetes.io/component: admission-guard", *m)
				}
				*m = nil
			}
			wantPolicy.Labels, wantBinding.Labels = nil, nil
			if diff := cmp.Diff(wantPolicy, &gotPolicy); diff != "" {
				t.Errorf("policy (-sentinel guard render +chart):\n%s", diff)
			}
			if diff := cmp.Diff(wantBinding, &gotBinding); diff != "" {
				t.Errorf("binding (-sentinel guard render +chart):\n%s", diff)
			}
		})
	}
}

// strictly decodes YAML into obj, refusing unknown fields.
func strictly(t *testing.T, raw []byte, obj any) {
	t.Helper()
	if err := yaml.UnmarshalStrict(bytes.TrimSpace(raw), obj); err != nil {
		t.Fatalf("%v\n%s", err, strings.TrimSpace(string(raw)))
	}
}

// In identity mode the chart refuses to render a guard that would refuse
// sentinel's own rollbacks: its ServiceAccount must be bound to its field
// manager.
func TestAdmissionGuardIdentityBindsSentinel(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string // "" renders
	}{
		{name: "the default release", args: []string{"--namespace", "sentinel"}},
		{name: "another namespace", args: []string{"--namespace", "ops"},
			want: "config.guard.identities.sentinel must name this release's ServiceAccount (service_accounts: [ops/sentinel])"},
		{name: "another namespace, bound", args: []string{"--namespace", "ops",
			"--set", "config.guard.identities.sentinel.service_accounts={ops/sentinel}"}},
		{name: "deny mode does not ask", args: []string{"--namespace", "ops", "--set", "admissionGuard.mode=deny"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"template", "sentinel", chartDir, "--set", "admissionGuard.enabled=true",
				"--set", "admissionGuard.mode=identity"}, tc.args...)
			out, err := helmErr(t, args...)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("helm template: %v\n%s", err, out)
			case tc.want != "" && (err == nil || !strings.Contains(out, tc.want)):
				t.Errorf("helm template: err %v, output lacks %q:\n%s", err, tc.want, out)
			}
		})
	}
}
