package engine

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap"
	appsv1 "k8s.io/api/apps/v1"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/detector"
	"github.com/sentinel-sre/sentinel/incident"
	"github.com/sentinel-sre/sentinel/rollback"
	"github.com/sentinel-sre/sentinel/source"
	"github.com/sentinel-sre/sentinel/workload"
)

// A replica that starts in the middle of an incident — a restart, a
// rollout of sentinel itself — replays the metrics history first: it
// knows revision 1 was healthy and finds the incident's own onset, so its
// page carries the incident id (and dedup key) the replica that watched
// it all used. Cold, it pages without a rollback target under an id of
// its own, looks back at the instants before the change, finds revision
// 1 healthy there and pages again, rolling back.
func TestWarmUpKnowsHealthAndTheIncident(t *testing.T) {
	failing := func(at time.Time) bool {
		return at.After(t0.Add(10*time.Minute+15*time.Second)) && at.Before(t0.Add(20*time.Minute))
	}
	src := script(func(at time.Time) ([]detector.Observation, error) {
		ratio := 0.01
		if failing(at) {
			ratio = 0.9
		}
		return []detector.Observation{{Workload: cart, Requests: 40, Failures: 40 * ratio}}, nil
	})
	// The replica that watched from the start.
	watched, _ := runScenario(t, "kubectl-set", &executor{}, nil)

	type page struct {
		Incident string
		Reason   rollback.Reason
	}
	start := t0.Add(11 * time.Minute) // the incident is under way
	for _, tc := range []struct {
		name   string
		warmUp time.Duration
		want   []page
	}{
		{"warm", 15 * time.Minute, []page{{Incident: watched.actions[0].Incident, Reason: rollback.ReasonOutOfBandImage}}},
		{"cold", 0, []page{
			{Incident: "shop/cart@" + start.Format(time.RFC3339), Reason: rollback.ReasonNoHealthyTarget},
			{Incident: "shop/cart@" + start.Format(time.RFC3339), Reason: rollback.ReasonOutOfBandImage},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.Run.WarmUp = tc.warmUp
			out := &collect{}
			e := New(cfg, src, &executor{}, out, zap.NewNop())
			// What the informers list at start: both revisions.
			d1, d2 := deployment("1", "1", "cart:1", "helm", t0), deployment("2", "2", "cart:2", "kubectl-set", t0.Add(10*time.Minute))
			e.ObserveReplicaSet(scaled(replicaSet(d1, "cart-1"), 0))
			e.ObserveReplicaSet(replicaSet(d2, "cart-2"))
			e.ObserveDeployment(d2, start)
			e.WarmUp(t.Context(), start)
			if len(out.actions) != 0 {
				t.Fatalf("warming up told %d actions", len(out.actions))
			}
			for at := start; at.Before(start.Add(2 * time.Minute)); at = at.Add(15 * time.Second) {
				_ = e.Poll(t.Context(), at)
			}
			var got []page
			for _, a := range out.actions {
				if a.Kind == incident.Page {
					got = append(got, page{a.Incident, a.Decision.Reason})
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("pages (-want +got):\n%s", diff)
			}
		})
	}
}

// scaled is rs wanting n pods.
func scaled(rs *appsv1.ReplicaSet, n int32) *appsv1.ReplicaSet {
	rs.Spec.Replicas = &n
	return rs
}

// An incident that began before the history a starting replica replays
// (an outage longer than run.warm_up, as MLI-6574's 58 minutes) is
// followed back to its onset: the page carries the incident id (and
// dedup key) the replica that watched it all used, and its resolve
// closes that alert. The search asks the source a bounded number of
// earlier instants.
func TestWarmUpFindsTheOnsetOfAnIncidentOlderThanItsWindow(t *testing.T) {
	for _, flaky := range []bool{false, true} {
		t.Run(map[bool]string{false: "source answers", true: "first query of each past instant times out"}[flaky], func(t *testing.T) {
			findsTheOnset(t, flaky)
		})
	}
}

// findsTheOnset is TestWarmUpFindsTheOnsetOfAnIncidentOlderThanItsWindow;
// flaky: the first query of each instant before the warm-up window times
// out.
func findsTheOnset(t *testing.T, flaky bool) {
	const step = 15 * time.Second
	queries := 0
	asked := map[time.Time]bool{}
	late := false // the replica started late is warming up
	src := script(func(at time.Time) ([]detector.Observation, error) {
		queries++
		if flaky && late && at.Before(t0.Add(30*time.Minute)) && !asked[at] {
			asked[at] = true
			return nil, context.DeadlineExceeded
		}
		ratio := 0.01
		if !at.Before(t0.Add(10*time.Minute+15*time.Second)) && at.Before(t0.Add(60*time.Minute)) {
			ratio = 0.9
		}
		return []detector.Observation{{Workload: cart, Requests: 40, Failures: 40 * ratio}}, nil
	})
	cfg := config.Default()
	replica := func(start time.Time, warmUp bool) []noticeView {
		out := &collect{}
		e := New(cfg, src, &executor{}, out, zap.NewNop())
		d1, d2 := deployment("1", "1", "cart:1", "helm", t0), deployment("2", "2", "cart:2", "helm", t0.Add(10*time.Minute))
		e.ObserveReplicaSet(scaled(replicaSet(d1, "cart-1"), 0))
		e.ObserveReplicaSet(replicaSet(d2, "cart-2"))
		e.ObserveDeployment(d2, start)
		if warmUp {
			queries, late = 0, true
			e.WarmUp(t.Context(), start)
			late = false
			if polls := int(cfg.Run.WarmUp / step); queries > polls+2*2*13 {
				t.Errorf("the warm-up asked %d instants, want its %d polls and a bounded search", queries, polls)
			}
		}
		for at := start; at.Before(t0.Add(65 * time.Minute)); at = at.Add(step) {
			_ = e.Poll(t.Context(), at)
		}
		var got []noticeView
		for _, v := range viewNotices(out.actions) {
			got = append(got, noticeView{Kind: v.Kind, Incident: v.Incident}) // when each was told differs
		}
		return got
	}
	watched := replica(t0, false)
	if len(watched) != 2 {
		t.Fatalf("the replica that watched told %v, want a page and a resolve", watched)
	}
	// Started 35 minutes into the outage, with the default 15 minutes of
	// warm-up.
	if diff := cmp.Diff(watched, replica(t0.Add(45*time.Minute), true)); diff != "" {
		t.Errorf("actions of the replica started late (-watched +late):\n%s", diff)
	}
}

// The onset search judges past instants as the live polls do. In a
// canary the old revision's pods fail from minute 10 while the workload
// as a whole stays under the threshold (judged as a whole: the older
// pods fail too), and the new revision's pods join them at minute 30,
// when the incident begins. A replica started at minute 50 dates it to
// minute 30 too, and continues the alert; counting a breach by any
// revision's pods, it dated it to minute 10 and opened a second one.
func TestWarmUpDatesTheOnsetAsThePollsJudge(t *testing.T) {
	const step = 15 * time.Second
	src := script(func(at time.Time) ([]detector.Observation, error) {
		old, canary := 0.01, 0.01
		if !at.Before(t0.Add(10*time.Minute)) && at.Before(t0.Add(60*time.Minute)) {
			old = 0.8
		}
		if !at.Before(t0.Add(30*time.Minute)) && at.Before(t0.Add(60*time.Minute)) {
			canary = 0.9
		}
		revs := []detector.RevisionTraffic{
			{Revision: "cart-1", Requests: 10, Failures: 10 * old},
			{Revision: "cart-2", Requests: 30, Failures: 30 * canary},
		}
		return []detector.Observation{{Workload: cart, Requests: 40, Failures: revs[0].Failures + revs[1].Failures,
			Revisions: revs}}, nil
	})
	cfg := config.Default()
	replica := func(start time.Time, warmUp bool) []noticeView {
		out := &collect{}
		e := New(cfg, src, &executor{}, out, zap.NewNop())
		d1, d2 := deployment("1", "1", "cart:1", "helm", t0), deployment("2", "2", "cart:2", "helm", t0.Add(5*time.Minute))
		e.ObserveReplicaSet(replicaSet(d1, "cart-1"))
		e.ObserveReplicaSet(replicaSet(d2, "cart-2"))
		e.ObserveDeployment(d2, start)
		if warmUp {
			e.WarmUp(t.Context(), start)
		}
		for at := start; at.Before(t0.Add(65 * time.Minute)); at = at.Add(step) {
			_ = e.Poll(t.Context(), at)
		}
		var got []noticeView
		for _, v := range viewNotices(out.actions) {
			got = append(got, noticeView{Kind: v.Kind, Incident: v.Incident})
		}
		return got
	}
	watched := replica(t0, false)
	want := []noticeView{
		{Kind: incident.Page, Incident: "shop/cart@" + t0.Add(30*time.Minute).Format(time.RFC3339)},
		{Kind: incident.Resolve, Incident: "shop/cart@" + t0.Add(30*time.Minute).Format(time.RFC3339)},
	}
	if diff := cmp.Diff(want, watched); diff != "" {
		t.Fatalf("the replica that watched (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(watched, replica(t0.Add(50*time.Minute), true)); diff != "" {
		t.Errorf("actions of the replica started late (-watched +late):\n%s", diff)
	}
}

// A replica that starts after a failing Deployment was deleted (a rollout
// of sentinel after the delete) replays its failing history: it never
// pages it again — that would reopen the alert the replica that watched
// resolved — and resolves it as deleted, in case no one did.
func TestWarmUpAfterADeploymentWasDeleted(t *testing.T) {
	deleted := t0.Add(20 * time.Minute)
	web := detector.Observation{Workload: workload.Ref{Namespace: "shop", Name: "web"}, Requests: 10}
	for _, tc := range []struct {
		name   string
		others []detector.Observation // what the source reports besides cart
		err    error                  // its answer once cart is gone too, if none
		// down: the source does not answer the last minutes of the
		// warm-up, from before the delete, and the warm-up gives up.
		down bool
	}{
		{"a neighbour still reported", []detector.Observation{web}, nil, false},
		{"nothing else reported", nil, source.ErrNoData, false},
		{"the source down for the end of the warm-up", []detector.Observation{web}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := deleted.Add(5 * time.Minute) // cart's Deployment is not listed
			src := script(func(at time.Time) ([]detector.Observation, error) {
				if tc.down && !at.Before(deleted.Add(-2*time.Minute)) && at.Before(start) {
					return nil, errors.New("context deadline exceeded")
				}
				if at.Before(deleted) && !at.Before(t0.Add(10*time.Minute)) {
					return append([]detector.Observation{{Workload: cart, Requests: 40, Failures: 36}}, tc.others...), nil
				}
				return tc.others, tc.err
			})
			out := &collect{}
			e := New(config.Default(), src, &executor{}, out, zap.NewNop())
			e.WarmUp(t.Context(), start)
			for at := start; at.Before(start.Add(30 * time.Minute)); at = at.Add(15 * time.Second) {
				_ = e.Poll(t.Context(), at)
			}
			want := []noticeView{{Kind: incident.Resolve, At: start.Add(-15 * time.Second),
				Incident: workload.IncidentID(cart, t0.Add(10*time.Minute)), Message: "the Deployment was deleted"}}
			switch {
			case tc.err != nil:
				want[0].At = deleted.Add(-15 * time.Second) // the last instant answered with a workload
			case tc.down:
				want[0].At = deleted.Add(-2*time.Minute - 15*time.Second) // the last instant answered
			}
			if diff := cmp.Diff(want, viewNotices(out.actions)); diff != "" {
				t.Errorf("actions (-want +got):\n%s", diff)
			}
		})
	}
}
