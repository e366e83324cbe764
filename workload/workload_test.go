package workload

import (
	"slices"
	"testing"
	"time"
)

// The one order is namespace first, then name, whatever the characters:
// "a" sorts before "a-b" although "a-b/x" < "a/x" as strings.
func TestCompareOrdersByNamespaceThenName(t *testing.T) {
	got := []Ref{{"b", "a"}, {"a-b", "x"}, {"a", "z"}, {"a", "x"}}
	slices.SortFunc(got, Compare)
	want := []Ref{{"a", "x"}, {"a", "z"}, {"a-b", "x"}, {"b", "a"}}
	if !slices.Equal(got, want) {
		t.Errorf("sorted %v, want %v", got, want)
	}
	if Compare(Ref{"ns", "a"}, Ref{"ns", "a"}) != 0 {
		t.Error("a workload does not compare equal to itself")
	}
}

// Replicas and restarts name an incident alike: the onset in UTC, to the
// second, whatever its zone.
func TestIncidentIDIsStableAcrossZones(t *testing.T) {
	onset := time.Date(2026, 4, 24, 23, 50, 45, 0, time.UTC)
	w := Ref{Namespace: "scale-deploy", Name: "model-engine"}
	want := "scale-deploy/model-engine@2026-04-24T23:50:45Z"
	if got := IncidentID(w, onset); got != want {
		t.Errorf("IncidentID = %q, want %q", got, want)
	}
	if got := IncidentID(w, onset.In(time.FixedZone("CEST", 2*3600))); got != want {
		t.Errorf("IncidentID in another zone = %q, want %q", got, want)
	}
}
