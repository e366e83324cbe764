package backtest

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sentinel-sre/sentinel/incident"
	"github.com/sentinel-sre/sentinel/rollback"
	"github.com/sentinel-sre/sentinel/workload"
)

func TestSummarize(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	web := workload.Ref{Namespace: "shop", Name: "web"}
	cart := workload.Ref{Namespace: "shop", Name: "cart"}
	page := func(w workload.Ref, at time.Duration, toPage time.Duration, roll bool) incident.Action {
		a := incident.Action{Kind: incident.Page, Workload: w, At: t0.Add(at), Onset: t0.Add(at - toPage)}
		if roll {
			a.Decision = rollback.Decision{Reason: rollback.ReasonOutOfBandImage, Plan: &rollback.Plan{}}
		} else {
			a.Decision = rollback.Decision{Reason: rollback.ReasonTrustedDeployer}
		}
		return a
	}
	tests := []struct {
		name    string
		actions []incident.Action
		want    []WorkloadSummary
	}{
		{name: "nothing", want: []WorkloadSummary{}},
		{
			name: "a page and its rollback, a resolve, a blind notice",
			actions: []incident.Action{
				{Kind: incident.Blind, At: t0, Message: "blind"},
				page(web, time.Hour, 30*time.Second, true),
				{Kind: incident.Rollback, Workload: web, At: t0.Add(time.Hour)},
				{Kind: incident.Resolve, Workload: web, At: t0.Add(2 * time.Hour)},
			},
			want: []WorkloadSummary{{Workload: web, Pages: 1, Rollbacks: 1, Refused: map[string]int{},
				ToPage: []time.Duration{30 * time.Second}}},
		},
		{
			name: "two pages 23 h apart repeat, 25 h apart do not",
			actions: []incident.Action{
				page(cart, time.Hour, 45*time.Second, false),
				page(web, time.Hour, 30*time.Second, false),
				page(cart, 24*time.Hour, 30*time.Second, false),
				page(web, 26*time.Hour, 30*time.Second, false),
			},
			want: []WorkloadSummary{
				{Workload: cart, Pages: 2, Refused: map[string]int{string(rollback.ReasonTrustedDeployer): 2},
					ToPage: []time.Duration{45 * time.Second, 30 * time.Second}, Repeated: true},
				{Workload: web, Pages: 2, Refused: map[string]int{string(rollback.ReasonTrustedDeployer): 2},
					ToPage: []time.Duration{30 * time.Second, 30 * time.Second}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, Summarize(tt.actions)); diff != "" {
				t.Errorf("Summarize (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWriteSummary(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	web := workload.Ref{Namespace: "shop", Name: "web"}
	res := Result{From: t0, To: t0.Add(time.Hour), Polls: 241, NoData: 1, Objects: 1}
	acts := []incident.Action{
		{Kind: incident.Page, Workload: web, At: t0.Add(time.Minute), Onset: t0.Add(30 * time.Second),
			Decision: rollback.Decision{Plan: &rollback.Plan{}}},
		{Kind: incident.Rollback, Workload: web, At: t0.Add(time.Minute)},
	}
	var b strings.Builder
	if err := WriteSummary(&b, res, acts); err != nil {
		t.Fatal(err)
	}
	want := `
backtest 2026-05-01T00:00:00Z to 2026-05-01T01:00:00Z: 241 polls (1 without data), 1 object; 1 page, 1 rollback, 0 resolves
workload                                 pages rollbacks  first failing poll to page
shop/web                                     1         1  30s
no workload would have paged more than once within 24 h
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
}
