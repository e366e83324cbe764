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

// A name from the metrics is printed on one line, every script kept; its
// identity is the name as it is.
func TestPrintableEscapesOnlyWhatIsNotPrintable(t *testing.T) {
	tests := []struct{ in, want string }{
		{"model-engine", "model-engine"},
		{"api\n2026-06-02T10:16:30Z  ROLLBACK  shop/web", `api\n2026-06-02T10:16:30Z  ROLLBACK  shop/web`},
		{"a\r\tb\x00\x1b[2K", `a\r\tb\x00\x1b[2K`},
		{"línea\u2028nueva\u0085", `línea\u2028nueva\u0085`},
		{"zähler-計数器 ok", "zähler-計数器 ok"},
		{"bad\xffutf8", `bad\xffutf8`},
		{"\ufffd is printable", "\ufffd is printable"},
		{`a\nb`, `a\nb`},
	}
	for _, tt := range tests {
		got := Printable(tt.in)
		if got != tt.want {
			t.Errorf("Printable(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if again := Printable(got); again != got {
			t.Errorf("Printable(Printable(%q)) = %q, want it unchanged", tt.in, again)
		}
	}
	w := Ref{Namespace: "shop", Name: "api\nROLLBACK"}
	if got, want := w.String(), `shop/api\nROLLBACK`; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got, want := w.Key(), "shop/api\nROLLBACK"; got != want {
		t.Errorf("Key() = %q, want %q", got, want)
	}
	onset := time.Date(2026, 6, 2, 10, 15, 30, 0, time.UTC)
	if got, want := IncidentID(w, onset), "shop/api\nROLLBACK@2026-06-02T10:15:30Z"; got != want {
		t.Errorf("IncidentID = %q, want the raw name's %q", got, want)
	}
}
