// Package guard is sentinel's opt-in admission guard: it renders the
// ValidatingAdmissionPolicy and binding that refuse an untrusted image
// change of a protected Deployment unless it breaks glass (in identity
// mode, also a trusted manager's name sent by anyone else), reads back
// which binding covers the watched namespaces, and tells a change that
// broke glass (docs/admission-guard.md).
package guard

import (
	"bytes"
	"fmt"
	"slices"
	"sort"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/rollback"
)

// Names of the rendered objects, and the labels and annotations the guard
// reads.
const (
	// PolicyName names the policy and its binding.
	PolicyName = "sentinel-image-guard"
	// Label opts a Deployment in when set to LabelValue.
	Label      = "sentinel.dev/guard"
	LabelValue = "enabled"
	// BreakGlassAnnotation carries the reason for an emergency image
	// change; it must be new (differ from the previous value) on the very
	// request that changes the image.
	BreakGlassAnnotation = "sentinel.dev/break-glass"
	// BreakGlassByAnnotation must name the requesting user exactly as the
	// API server authenticated them, so the notice names a checked user.
	BreakGlassByAnnotation = "sentinel.dev/break-glass-by"
	// ModeAnnotation on the binding says the policy checks identities
	// (Identity), which its validationActions cannot tell.
	ModeAnnotation = "sentinel.dev/guard-mode"
	// DocsURL is linked from every refusal.
	DocsURL = "https://github.com/sentinel-sre/sentinel/blob/main/docs/admission-guard.md"
	// namespaceLabel is set by the API server on every namespace to its name.
	namespaceLabel = "kubernetes.io/metadata.name"
)

// Mode is what the binding does with a refused change: the binding's
// validationActions.
type Mode string

// Modes a guard can be rendered in; Off and Unknown are only reported.
const (
	Warn  Mode = "warn"  // kubectl prints a warning; the change goes through
	Audit Mode = "audit" // recorded in the audit log only
	Deny  Mode = "deny"  // the API server refuses the change
	// Identity: as Deny, and a trusted manager's name is honoured only
	// from the identities config.Guard binds it to (identity.go).
	Identity Mode = "identity"
	// Off: no binding of the guard's policy covers the watched namespaces.
	Off Mode = "off"
	// Unknown: sentinel could not read the bindings (typically RBAC).
	Unknown Mode = "unknown"
)

// DefaultMode is what `sentinel guard render` uses without --mode: teams
// start with a warning and tighten later.
const DefaultMode = Warn

// Modes lists every mode the daemon reports, in the order of the metric's
// series.
func Modes() []Mode { return []Mode{Off, Warn, Audit, Deny, Identity, Unknown} }

// ParseMode accepts warn, audit, deny or identity.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case Warn, Audit, Deny, Identity:
		return m, nil
	default:
		return "", fmt.Errorf("mode %q: want warn, audit, deny or identity", s)
	}
}

func (m Mode) actions() []admissionv1.ValidationAction {
	switch m {
	case Warn:
		return []admissionv1.ValidationAction{admissionv1.Warn}
	case Audit:
		return []admissionv1.ValidationAction{admissionv1.Audit}
	default:
		return []admissionv1.ValidationAction{admissionv1.Deny}
	}
}

// Trusted is the field managers whose image changes the guard lets
// through: rollback.trusted_managers and sentinel's own, in that order.
// Each appears once, at its first place (as Helm's uniq keeps it).
func Trusted(r config.Rollback) []string {
	var out []string
	for _, m := range append(slices.Clone(r.TrustedManagers), rollback.FieldManager) {
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}

// Render builds the policy and its binding from a valid configuration.
func Render(cfg config.Config, mode Mode) (*admissionv1.ValidatingAdmissionPolicy, *admissionv1.ValidatingAdmissionPolicyBinding, error) {
	if _, err := ParseMode(string(mode)); err != nil {
		return nil, nil, fmt.Errorf("render admission guard: %w", err)
	}
	objSel := &metav1.LabelSelector{MatchLabels: map[string]string{Label: LabelValue}}
	var nsSel *metav1.LabelSelector
	if ns := cfg.Kubernetes.Namespaces; len(ns) > 0 {
		values := slices.Clone(ns)
		sort.Strings(values)
		nsSel = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: namespaceLabel, Operator: metav1.LabelSelectorOpIn, Values: slices.Compact(values)}}}
	}

	meta := func() metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: PolicyName, Labels: map[string]string{
			"app.kubernetes.io/name": "sentinel", "app.kubernetes.io/component": "admission-guard"}}
	}
	fail := admissionv1.Fail
	policy := &admissionv1.ValidatingAdmissionPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "ValidatingAdmissionPolicy"},
		ObjectMeta: meta(),
		Spec: admissionv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: &fail,
			MatchConstraints: &admissionv1.MatchResources{ResourceRules: []admissionv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionv1.RuleWithOperations{
					Operations: []admissionv1.OperationType{admissionv1.Create, admissionv1.Update},
					Rule: admissionv1.Rule{APIGroups: []string{"apps"}, APIVersions: []string{"v1"},
						Resources: []string{"deployments"}},
				}}}},
			Variables:        variables(Trusted(cfg.Rollback)),
			Validations:      validations(),
			AuditAnnotations: []admissionv1.AuditAnnotation{{Key: "break-glass", ValueExpression: breakGlassAudit}},
		},
	}
	if mode == Identity {
		policy.Spec.Variables = append(policy.Spec.Variables, identityVariables(Bindings(cfg))...)
		policy.Spec.Validations = append(policy.Spec.Validations, identityValidation())
	}
	binding := &admissionv1.ValidatingAdmissionPolicyBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "ValidatingAdmissionPolicyBinding"},
		ObjectMeta: meta(),
		Spec: admissionv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        PolicyName,
			ValidationActions: mode.actions(),
			MatchResources:    &admissionv1.MatchResources{NamespaceSelector: nsSel, ObjectSelector: objSel},
		},
	}
	if mode == Identity {
		binding.Annotations = map[string]string{ModeAnnotation: string(Identity)}
	}
	return policy, binding, nil
}

// Manifest is Render as a YAML stream: what `sentinel guard render`
// prints, deploy/guard holds and the Helm chart installs.
func Manifest(cfg config.Config, mode Mode) ([]byte, error) {
	policy, binding, err := Render(cfg, mode)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString("# sentinel's admission guard (docs/admission-guard.md), mode " + string(mode) + ".\n")
	b.WriteString("# Generated by `sentinel guard render`: regenerate it, do not edit it.\n")
	for i, obj := range []any{policy, binding} {
		y, err := yaml.Marshal(obj)
		if err != nil {
			return nil, fmt.Errorf("render admission guard: %w", err)
		}
		if i > 0 {
			b.WriteString("---\n")
		}
		b.Write(clean(y))
	}
	return b.Bytes(), nil
}

// clean drops the empty fields the API types always marshal.
func clean(y []byte) []byte {
	for _, empty := range []string{"  creationTimestamp: null\n", "status: {}\n"} {
		y = bytes.ReplaceAll(y, []byte(empty), nil)
	}
	return y
}
