// Package workload is sentinel's shared vocabulary: the workload every
// stage talks about, the identity of an incident, their one order, and how
// a name from outside is printed (Printable). It has no dependencies, so
// every package may import it, as Prometheus's model/labels.
package workload

import (
	"cmp"
	"fmt"
	"time"
)

// Ref names a Deployment by namespace and name, which is what Istio
// reports as destination_workload_namespace / destination_workload.
type Ref struct {
	Namespace string
	Name      string
}

// String prints w as namespace/name for people, each part Printable: a
// name from the metrics cannot break the line it is printed on. Identity
// (IncidentID, dedup keys, matching) uses Key.
func (w Ref) String() string { return Printable(w.Namespace) + "/" + Printable(w.Name) }

// Key is namespace/name exactly as they are, for keys and matching; print
// String instead.
func (w Ref) Key() string { return w.Namespace + "/" + w.Name }

// Compare orders workloads by namespace, then name: the one order in which
// sentinel sorts, evaluates and prints workloads.
func Compare(a, b Ref) int {
	return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
}

// IncidentID is the stable identity of an incident: the same workload and
// onset always give the same id, so replicas and restarts agree on it.
func IncidentID(w Ref, onset time.Time) string {
	return fmt.Sprintf("%s/%s@%s", w.Namespace, w.Name, onset.UTC().Format(time.RFC3339))
}
