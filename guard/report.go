package guard

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// BindingLister lists ValidatingAdmissionPolicyBindings; the clientset's
// AdmissionregistrationV1().ValidatingAdmissionPolicyBindings() is one.
type BindingLister interface {
	List(ctx context.Context, opts metav1.ListOptions) (*admissionv1.ValidatingAdmissionPolicyBindingList, error)
}

// Status is what sentinel knows of the guard over the namespaces it
// watches.
type Status struct {
	// Mode is the strictest mode of a binding of the guard's policy that
	// covers a watched namespace; Off when none does, Unknown when the
	// bindings could not be read.
	Mode Mode
	// Bindings names the covering bindings.
	Bindings []string
	// Uncovered lists watched namespaces no binding covers ("*" stands
	// for "every namespace" when sentinel watches all of them).
	Uncovered []string
	// Err says why the mode is Unknown.
	Err error
}

// Inspect reads the guard's bindings. namespaces are the watched ones;
// empty means all. A binding covers a namespace when its namespace
// selector matches the namespace's kubernetes.io/metadata.name label,
// which the API server sets on every namespace — so no Namespace needs
// reading. Selectors on other namespace labels count as not covering.
func Inspect(ctx context.Context, l BindingLister, namespaces []string) Status {
	list, err := l.List(ctx, metav1.ListOptions{})
	if err != nil {
		return Status{Mode: Unknown, Err: fmt.Errorf("list validatingadmissionpolicybindings: %w", err)}
	}
	watched := namespaces
	if len(watched) == 0 {
		watched = []string{"*"}
	}
	st := Status{Mode: Off}
	covered := map[string]bool{}
	for _, b := range list.Items {
		if b.Spec.PolicyName != PolicyName {
			continue
		}
		var hits []string
		for _, ns := range watched {
			if covers(b.Spec.MatchResources, ns) {
				hits = append(hits, ns)
			}
		}
		if len(hits) == 0 {
			continue
		}
		for _, ns := range hits {
			covered[ns] = true
		}
		st.Bindings = append(st.Bindings, b.Name)
		if m := modeOf(b); strictness(m) > strictness(st.Mode) {
			st.Mode = m
		}
	}
	for _, ns := range watched {
		if !covered[ns] {
			st.Uncovered = append(st.Uncovered, ns)
		}
	}
	return st
}

// covers reports whether a binding's namespace selector takes in ns; "*"
// (every namespace) only when it selects all.
func covers(mr *admissionv1.MatchResources, ns string) bool {
	if mr == nil || mr.NamespaceSelector == nil {
		return true
	}
	sel, err := metav1.LabelSelectorAsSelector(mr.NamespaceSelector)
	if err != nil {
		return false
	}
	if ns == "*" {
		return sel.Empty()
	}
	return sel.Matches(labels.Set{namespaceLabel: ns})
}

func modeOf(b admissionv1.ValidatingAdmissionPolicyBinding) Mode {
	switch actions := b.Spec.ValidationActions; {
	case slices.Contains(actions, admissionv1.Deny) && b.Annotations[ModeAnnotation] == string(Identity):
		return Identity
	case slices.Contains(actions, admissionv1.Deny):
		return Deny
	case slices.Contains(actions, admissionv1.Warn):
		return Warn
	case slices.Contains(actions, admissionv1.Audit):
		return Audit
	default:
		return Off
	}
}

func strictness(m Mode) int { return slices.Index([]Mode{Off, Audit, Warn, Deny, Identity}, m) }

// Report inspects the guard once (at start-up), logs what it found and
// exports sentinel_admission_guard_mode, one series per mode, 1 for the
// current one. A Forbidden answer is expected — sentinel's runtime RBAC
// does not include reading admission bindings — and is reported as
// Unknown with the grant that would tell.
func Report(ctx context.Context, l BindingLister, namespaces []string, reg prometheus.Registerer, log *zap.Logger) Status {
	st := Inspect(ctx, l, namespaces)
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sentinel_admission_guard_mode",
		Help: "1 for the admission guard's mode over the watched namespaces at start-up (off, warn, audit, deny, identity, unknown)."},
		[]string{"mode"})
	for _, m := range Modes() {
		v := 0.0
		if m == st.Mode {
			v = 1
		}
		g.WithLabelValues(string(m)).Set(v)
	}
	reg.MustRegister(g)

	switch {
	case apierrors.IsForbidden(st.Err):
		log.Info("admission guard: unknown: sentinel may not list validatingadmissionpolicybindings "+
			"(apply deploy/guard/reader-rbac.yaml to have it reported)", zap.Error(st.Err))
	case st.Err != nil:
		log.Warn("admission guard: unknown: reading its bindings failed", zap.Error(st.Err))
	case st.Mode == Off:
		log.Info("admission guard: off: no binding of policy "+PolicyName+" covers the watched namespaces "+
			"(see docs/admission-guard.md)", zap.Strings("namespaces", namespaces))
	default:
		log.Info("admission guard: "+string(st.Mode), zap.Strings("bindings", st.Bindings),
			zap.String("uncovered_namespaces", strings.Join(st.Uncovered, ",")))
	}
	return st
}
