package guard

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/sentinel-sre/sentinel/config"
)

// identityConfig trusts helm and Argo CD, binds helm to the CI's
// ServiceAccount, a user and a group, binds a manager that is not
// trusted, and leaves the defaults for the GitOps controllers.
func identityConfig() config.Config {
	cfg := config.Default()
	cfg.Rollback.TrustedManagers = []string{"helm", "argocd-controller", "kustomize"}
	cfg.Guard.Identities["helm"] = config.Identities{Users: []string{"ci-bot"}, Groups: []string{"release-managers"},
		ServiceAccounts: []string{"ci/deployer"}}
	cfg.Guard.Identities["kubectl"] = config.Identities{Users: []string{"alice"}}
	return cfg
}

// In identity mode the policy gains who may write as each trusted
// manager and one validation; the binding denies and says it checks
// identities. Other modes render as before.
func TestRenderIdentity(t *testing.T) {
	cfg := identityConfig()
	policy, binding, err := Render(cfg, Identity)
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	for _, v := range policy.Spec.Variables {
		vars[v.Name] = v.Expression
	}
	want := map[string]string{
		"boundUsers": `{"argocd-controller":["system:serviceaccount:argocd:argocd-application-controller"],` +
			`"helm":["ci-bot","system:serviceaccount:ci:deployer"],"sentinel":["system:serviceaccount:sentinel:sentinel"]}`,
		"boundGroups": `{"helm":["release-managers"]}`,
	}
	for name, expr := range want {
		if vars[name] != expr {
			t.Errorf("variable %s = %s, want %s", name, vars[name], expr)
		}
	}
	if n := len(policy.Spec.Validations); n != 3 {
		t.Fatalf("%d validations, want the two of every mode and identity mode's", n)
	}
	if got := policy.Spec.Validations[2].Expression; got != "!(variables.imageChanged || variables.unguarding) || !variables.trusted || variables.bound || variables.breakGlass" {
		t.Errorf("identity validation %s", got)
	}
	if diff := cmp.Diff([]admissionv1.ValidationAction{admissionv1.Deny}, binding.Spec.ValidationActions); diff != "" {
		t.Errorf("actions (-want +got):\n%s", diff)
	}
	if binding.Annotations[ModeAnnotation] != "identity" {
		t.Errorf("binding annotations %v, want %s: identity", binding.Annotations, ModeAnnotation)
	}
	deny, denyBinding, err := Render(cfg, Deny)
	if err != nil {
		t.Fatal(err)
	}
	if len(deny.Spec.Variables) != len(policy.Spec.Variables)-5 || len(deny.Spec.Validations) != 2 || denyBinding.Annotations != nil {
		t.Errorf("deny mode renders identity mode's additions")
	}
	if diff := cmp.Diff([]string{"kustomize"}, Unbound(cfg)); diff != "" {
		t.Errorf("Unbound (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"kubectl"}, Ignored(cfg)); diff != "" {
		t.Errorf("Ignored (-want +got):\n%s", diff)
	}
}

// A Deny binding that says it checks identities is identity mode, the
// strictest.
func TestInspectIdentity(t *testing.T) {
	id := binding("i", PolicyName, names("shop"), admissionv1.Deny)
	id.Annotations = map[string]string{ModeAnnotation: string(Identity)}
	warned := binding("w", PolicyName, names("shop"), admissionv1.Warn)
	warned.Annotations = map[string]string{ModeAnnotation: string(Identity)} // not denying: not identity mode
	for _, tc := range []struct {
		name    string
		objects []runtime.Object
		want    Mode
	}{
		{"identity", []runtime.Object{id}, Identity},
		{"identity over deny", []runtime.Object{binding("d", PolicyName, names("shop"), admissionv1.Deny), id}, Identity},
		{"the annotation on a warn binding", []runtime.Object{warned}, Warn},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := Inspect(t.Context(), fake.NewClientset(tc.objects...).AdmissionregistrationV1().ValidatingAdmissionPolicyBindings(), []string{"shop"})
			if st.Mode != tc.want {
				t.Errorf("mode %s, want %s", st.Mode, tc.want)
			}
		})
	}
}
