package guard

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/sentinel-sre/sentinel/config"
)

func TestParseMode(t *testing.T) {
	tests := []struct {
		in      string
		want    Mode
		wantErr string
	}{
		{in: "warn", want: Warn},
		{in: "audit", want: Audit},
		{in: "deny", want: Deny},
		{in: "identity", want: Identity},
		{in: "Deny", wantErr: `mode "Deny": want warn, audit, deny or identity`},
		{in: "off", wantErr: `mode "off": want warn, audit, deny or identity`},
		{in: "", wantErr: `mode "": want warn, audit, deny or identity`},
	}
	for _, tt := range tests {
		got, err := ParseMode(tt.in)
		gotErr := ""
		if err != nil {
			gotErr = err.Error()
		}
		if got != tt.want || gotErr != tt.wantErr {
			t.Errorf("ParseMode(%q) = %q, %q; want %q, %q", tt.in, got, gotErr, tt.want, tt.wantErr)
		}
	}
}

// The binding selects what sentinel watches, narrowed to opted-in
// Deployments, and acts in the chosen mode; the policy trusts exactly
// rollback.trusted_managers and sentinel.
func TestRender(t *testing.T) {
	type rendered struct {
		Actions   []admissionv1.ValidationAction
		Namespace *metav1.LabelSelector
		Object    *metav1.LabelSelector
		Trusted   string
	}
	tests := []struct {
		name       string
		namespaces []string
		selector   string
		trusted    []string
		mode       Mode
		want       rendered
		wantErr    string
	}{
		{
			name: "defaults: every namespace, opted-in Deployments, helm", mode: Warn, trusted: []string{"helm"},
			want: rendered{Actions: []admissionv1.ValidationAction{admissionv1.Warn},
				Object:  &metav1.LabelSelector{MatchLabels: map[string]string{Label: LabelValue}},
				Trusted: `["helm","sentinel"]`},
		},
		{
			name: "namespaces; the label selector is not the guard's", mode: Deny, namespaces: []string{"shop", "pay", "shop"},
			selector: "team=pay,tier in (web)", trusted: []string{"helm", "argocd-controller"},
			want: rendered{Actions: []admissionv1.ValidationAction{admissionv1.Deny},
				Namespace: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
					{Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpIn, Values: []string{"pay", "shop"}}}},
				Object:  &metav1.LabelSelector{MatchLabels: map[string]string{Label: LabelValue}},
				Trusted: `["helm","argocd-controller","sentinel"]`},
		},
		{
			name: "sentinel already trusted is not listed twice", mode: Audit, trusted: []string{"sentinel", "helm"},
			want: rendered{Actions: []admissionv1.ValidationAction{admissionv1.Audit},
				Object:  &metav1.LabelSelector{MatchLabels: map[string]string{Label: LabelValue}},
				Trusted: `["sentinel","helm"]`},
		},
		{name: "an unknown mode", mode: Off, wantErr: `render admission guard: mode "off": want warn, audit, deny or identity`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.Kubernetes.Namespaces, cfg.Kubernetes.LabelSelector = tt.namespaces, tt.selector
			cfg.Rollback.TrustedManagers = tt.trusted
			policy, binding, err := Render(cfg, tt.mode)
			if tt.wantErr != "" || err != nil {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("Render error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			got := rendered{Actions: binding.Spec.ValidationActions, Namespace: binding.Spec.MatchResources.NamespaceSelector,
				Object: binding.Spec.MatchResources.ObjectSelector}
			for _, v := range policy.Spec.Variables {
				if v.Name == "trustedManagers" {
					got.Trusted = v.Expression
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("rendered (-want +got):\n%s", diff)
			}
			if binding.Spec.PolicyName != policy.Name || policy.Name != PolicyName {
				t.Errorf("binding %q of policy %q", binding.Spec.PolicyName, policy.Name)
			}
		})
	}
}

func binding(name, policy string, ns *metav1.LabelSelector, actions ...admissionv1.ValidationAction) *admissionv1.ValidatingAdmissionPolicyBinding {
	return &admissionv1.ValidatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: policy, ValidationActions: actions,
			MatchResources: &admissionv1.MatchResources{NamespaceSelector: ns}}}
}

func names(ns ...string) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
		{Key: namespaceLabel, Operator: metav1.LabelSelectorOpIn, Values: ns}}}
}

// Inspect against client-go's fake clientset: which binding covers which
// watched namespace, and the strictest mode among them.
func TestInspect(t *testing.T) {
	forbidden := apierrors.NewForbidden(schema.GroupResource{Group: "admissionregistration.k8s.io",
		Resource: "validatingadmissionpolicybindings"}, "", errors.New("RBAC: no"))
	type result struct {
		Mode      Mode
		Bindings  []string
		Uncovered []string
		Forbidden bool
	}
	tests := []struct {
		name      string
		watched   []string
		objects   []runtime.Object
		forbidden bool
		want      result
	}{
		{name: "no binding", watched: []string{"shop"}, want: result{Mode: Off, Uncovered: []string{"shop"}}},
		{name: "another policy's binding", watched: []string{"shop"},
			objects: []runtime.Object{binding("other", "other", nil, admissionv1.Deny)},
			want:    result{Mode: Off, Uncovered: []string{"shop"}}},
		{name: "deny over one of two namespaces", watched: []string{"pay", "shop"},
			objects: []runtime.Object{binding("g", PolicyName, names("shop"), admissionv1.Deny)},
			want:    result{Mode: Deny, Bindings: []string{"g"}, Uncovered: []string{"pay"}}},
		{name: "the strictest of two", watched: []string{"pay", "shop"},
			objects: []runtime.Object{binding("a", PolicyName, names("pay"), admissionv1.Audit),
				binding("w", PolicyName, names("shop"), admissionv1.Warn, admissionv1.Audit)},
			want: result{Mode: Warn, Bindings: []string{"a", "w"}}},
		{name: "all namespaces watched, binding for all", objects: []runtime.Object{binding("g", PolicyName, nil, admissionv1.Warn)},
			want: result{Mode: Warn, Bindings: []string{"g"}}},
		{name: "all namespaces watched, binding for some", objects: []runtime.Object{binding("g", PolicyName, names("shop"), admissionv1.Deny)},
			want: result{Mode: Off, Uncovered: []string{"*"}}},
		{name: "forbidden", watched: []string{"shop"}, forbidden: true, want: result{Mode: Unknown, Forbidden: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := fake.NewClientset(tt.objects...)
			if tt.forbidden {
				c.PrependReactor("list", "validatingadmissionpolicybindings", func(k8stesting.Action) (bool, runtime.Object, error) {
					return true, nil, forbidden
				})
			}
			st := Inspect(t.Context(), c.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings(), tt.watched)
			got := result{Mode: st.Mode, Bindings: st.Bindings, Uncovered: st.Uncovered, Forbidden: apierrors.IsForbidden(st.Err)}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Inspect (-want +got):\n%s", diff)
			}
		})
	}
}
