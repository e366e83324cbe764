package scenario

import (
	"fmt"
	"slices"
	"time"

	yamlv3 "go.yaml.in/yaml/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sentinel-sre/sentinel/workload"
)

// ObservedAt is the newest managedFields time of an object, or its
// creationTimestamp where it has none.
func ObservedAt(meta *metav1.ObjectMeta) time.Time {
	var at time.Time
	for _, mf := range meta.ManagedFields {
		if mf.Time != nil && mf.Time.After(at) {
			at = mf.Time.Time
		}
	}
	if at.IsZero() {
		at = meta.CreationTimestamp.Time
	}
	return at.UTC()
}

// MissingManagedFields is a warning when Deployments read from the file
// name lack managedFields (kubectl leaves them out unless asked), "" when
// none does. Without them a replay cannot tell who made a change, so it
// never rolls one back, and a Deployment's time is its creation.
// ReplicaSets need none: attribution reads the Deployment's.
func MissingManagedFields(name string, objs []Object) string {
	n, all := 0, 0
	var first *Object
	for i, o := range objs {
		if o.Deployment == nil {
			continue
		}
		all++
		if len(o.Deployment.ManagedFields) == 0 {
			n++
			if first == nil {
				first = &objs[i]
			}
		}
	}
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("%s:%d: %d of %d Deployment observations (the first: %s/%s) have no managedFields, so who made "+
		"a change is unknown and no change is rolled back; record with kubectl get --show-managed-fields",
		name, first.Line, n, all, first.Deployment.Namespace, first.Deployment.Name)
}

// NoObjects is a warning for a replay given no Deployment or ReplicaSet:
// what holds none ("DIR/objects.yaml is empty (0 bytes)") and what the
// replay cannot do without them.
func NoObjects(what string) string {
	return what + ": a replay reads the Deployments and ReplicaSets observed (kubectl get deploy,rs -o yaml " +
		"--show-managed-fields; docs/scenarios.md) to tell what changed and who changed it; without them no page " +
		"names a cause and nothing is rolled back"
}

// Deployments are the workloads objs observe as Deployments, sorted,
// each once.
func Deployments(objs []Object) []workload.Ref {
	var out []workload.Ref
	for _, o := range objs {
		if d := o.Deployment; d != nil {
			out = append(out, workload.Ref{Namespace: d.Namespace, Name: d.Name})
		}
	}
	slices.SortFunc(out, workload.Compare)
	return slices.Compact(out)
}

// yamlNode is a parsed document, for the lines of a List's items.
type yamlNode struct{ root yamlv3.Node }

func (n *yamlNode) parse(b []byte) error { return yamlv3.Unmarshal(b, &n.root) }

// itemLines are the 1-based lines, within the document, of the items of
// its top-level "items" sequence.
func (n *yamlNode) itemLines() []int {
	m := &n.root
	if m.Kind == yamlv3.DocumentNode && len(m.Content) == 1 {
		m = m.Content[0]
	}
	if m.Kind != yamlv3.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value != "items" || m.Content[i+1].Kind != yamlv3.SequenceNode {
			continue
		}
		var out []int
		for _, it := range m.Content[i+1].Content {
			out = append(out, it.Line)
		}
		return out
	}
	return nil
}
