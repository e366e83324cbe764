package notify

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sentinel-sre/sentinel/incident"
	"github.com/sentinel-sre/sentinel/workload"
)

// TestLogKeys: the log line carries the keys of the one
// rendering, with the same values as its JSON.
func TestLogKeys(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	w := workload.Ref{Namespace: "shop", Name: "cart"}
	onset := time.Date(2026, 3, 10, 9, 45, 0, 0, time.UTC)
	a := incident.Action{At: onset.Add(time.Minute), Kind: incident.Resolve, Workload: w,
		Incident: workload.IncidentID(w, onset), Onset: onset, Ratio: 0.004, Requests: 40, FailureCodes: "5.."}
	if err := (Log{Log: zap.New(core)}).Notify(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(a.Details())
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	entries := logs.All()
	if len(entries) != 1 {
		t.Fatalf("%d log lines, want 1", len(entries))
	}
	got := map[string]any{}
	for k, v := range entries[0].ContextMap() {
		raw, ok := v.(json.RawMessage)
		if !ok {
			t.Fatalf("field %s is a %T", k, v)
		}
		var x any
		if err := json.Unmarshal(raw, &x); err != nil {
			t.Fatal(err)
		}
		got[k] = x
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("log fields (-want +got):\n%s", diff)
	}
}
