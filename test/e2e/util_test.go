package e2e

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sentinel-sre/sentinel/incident"
	"github.com/sentinel-sre/sentinel/rollback"
	"github.com/sentinel-sre/sentinel/workload"
)

func demo(ns string) workload.Ref { return workload.Ref{Namespace: ns, Name: "demo"} }

func (c *cluster) firstReplicaSet(t *testing.T, ns string) *appsv1.ReplicaSet {
	t.Helper()
	rss, err := c.client.AppsV1().ReplicaSets(ns).List(t.Context(), metav1.ListOptions{})
	if err != nil || len(rss.Items) == 0 {
		t.Fatalf("replicasets in %s: %v", ns, err)
	}
	return &rss.Items[0]
}

// pageView is what a page says about its cause and its decision.
type pageView struct {
	Manager  string // of the linked change; "" when none was linked
	Rollback bool   // the decision carries a plan
	Reason   rollback.Reason
}

func viewPages(as []incident.Action) []pageView {
	var out []pageView
	for _, a := range as {
		v := pageView{Rollback: a.Decision.Plan != nil, Reason: a.Decision.Reason}
		if a.Cause != nil {
			v.Manager = a.Cause.Manager
		}
		out = append(out, v)
	}
	return out
}

// pollsPast waits until the engine has completed the poll n intervals
// after at: whatever the polls up to it were to do has been done and
// reported, since a rollback runs inside its poll.
func (s *sentinel) pollsPast(t *testing.T, at time.Time, n int) {
	t.Helper()
	until := at.Add(time.Duration(n) * s.cfg.Detection.PollInterval)
	eventually(t, 30*time.Second, "a poll completed at "+until.Format(time.RFC3339)+" or later",
		func() bool { return !s.engine.LastPoll().Before(until) })
}
