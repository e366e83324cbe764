package evidence

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/sentinel-sre/sentinel/detector"
	"github.com/sentinel-sre/sentinel/history"
	"github.com/sentinel-sre/sentinel/workload"
)

var (
	t0   = time.Date(2026, 4, 24, 23, 50, 0, 0, time.UTC)
	cart = workload.Ref{Namespace: "shop", Name: "cart"}
)

const step = 15 * time.Second

func at(poll int) time.Time { return t0.Add(time.Duration(poll) * step) }

func opts() Options {
	return Options{Threshold: 0.5, MinRequestRate: 0.5, HealthyMaxRatio: 0.05, LinkWindow: 15 * time.Minute}
}

// fakeDeployments is cart with revision 1 (cart-aaa, hash aaa) and the
// current revision 2 (cart-bbb, hash bbb); unknown: cart has no
// Deployment (another kind of workload).
type fakeDeployments struct {
	rollout history.Rollout
	unknown bool
}

func (f *fakeDeployments) ReplicaSetOf(w workload.Ref, key string) (history.ReplicaSet, bool) {
	for _, rs := range []history.ReplicaSet{
		{Name: "cart-aaa", Hash: "aaa", Revision: 1},
		{Name: "cart-bbb", Hash: "bbb", Revision: 2, Current: true},
	} {
		if w == cart && (key == rs.Name || key == rs.Hash) {
			return rs, true
		}
	}
	return history.ReplicaSet{}, false
}

func (f *fakeDeployments) Rollout(w workload.Ref) (history.Rollout, bool) {
	return f.rollout, w == cart && !f.unknown
}

// traffic is one revision's requests per second and failure ratio.
type traffic struct {
	rev   string
	rps   float64
	ratio float64
}

// obs is cart's observation: the revisions' traffic summed.
func obs(revs ...traffic) detector.Observation {
	o := detector.Observation{Workload: cart}
	for _, r := range revs {
		o.Requests += r.rps
		o.Failures += r.rps * r.ratio
		if r.rev != "" {
			o.Revisions = append(o.Revisions, detector.RevisionTraffic{Revision: r.rev, Requests: r.rps, Failures: r.rps * r.ratio})
		}
	}
	return o
}

// judged is what the detector is given, reduced to what the tests check.
type judged struct {
	Basis    detector.Basis
	Requests float64
	Ratio    float64
}

func TestJudged(t *testing.T) {
	served := history.Rollout{Replicas: 3, Available: 3, StatusKnown: true}
	down := history.Rollout{Replicas: 3, Available: 0, StatusKnown: true, ChangedAt: at(1)}
	zero := history.Rollout{Replicas: 0, StatusKnown: true, ChangedAt: at(1)}
	cases := []struct {
		name    string
		rollout history.Rollout
		unknown bool                    // cart has no Deployment
		scaleAt int                     // from this poll on (if > 0) cart's Deployment wants no replica
		polls   []*detector.Observation // nil: the source said nothing of cart
		want    []*judged               // nil: nothing judged
	}{{
		name:    "a rolling update whose new pods fail while the old serve is judged on the new pods",
		rollout: served,
		polls:   []*detector.Observation{ptr(obs(traffic{"aaa", 36, 0.01}, traffic{"bbb", 4, 0.95}))},
		want:    []*judged{{Basis: detector.BasisRevision, Requests: 4, Ratio: 0.95}},
	}, {
		name:    "pods named by pod name resolve to their ReplicaSet",
		rollout: served,
		polls:   []*detector.Observation{ptr(obs(traffic{"cart-aaa", 36, 0.01}, traffic{"cart-bbb", 2, 0.95}, traffic{"bbb", 2, 0.95}))},
		want:    []*judged{{Basis: detector.BasisRevision, Requests: 4, Ratio: 0.95}},
	}, {
		name:    "old pods failing too: the workload is judged as a whole",
		rollout: served,
		polls:   []*detector.Observation{ptr(obs(traffic{"aaa", 36, 0.3}, traffic{"bbb", 4, 0.95}))},
		want:    []*judged{{Requests: 40, Ratio: (36*0.3 + 4*0.95) / 40}},
	}, {
		name:    "only the new pods serve: the workload is judged as a whole",
		rollout: served,
		polls:   []*detector.Observation{ptr(obs(traffic{"bbb", 40, 0.95}))},
		want:    []*judged{{Requests: 40, Ratio: 0.95}},
	}, {
		name:    "new pods below the volume floor are not judged apart",
		rollout: served,
		polls:   []*detector.Observation{ptr(obs(traffic{"aaa", 36, 0.01}, traffic{"bbb", 0.4, 1}))},
		want:    []*judged{{Requests: 36.4, Ratio: (0.36 + 0.4) / 36.4}},
	}, {
		name:    "revisions the history does not know are left out of the split",
		rollout: served,
		polls:   []*detector.Observation{ptr(obs(traffic{"aaa", 36, 0.01}, traffic{"zzz", 4, 0.95}))},
		want:    []*judged{{Requests: 40, Ratio: (0.36 + 3.8) / 40}},
	}, {
		name:    "a workload that served and stops after a change, no replica available, fails every request",
		rollout: down,
		polls:   []*detector.Observation{ptr(obs(traffic{"", 20, 0})), nil, nil},
		want:    []*judged{{Requests: 20}, {Basis: detector.BasisStopped, Requests: 20, Ratio: 1}, {Basis: detector.BasisStopped, Requests: 20, Ratio: 1}},
	}, {
		name:    "a workload that stopped serving, then scaled to zero, wants nothing: nothing fails",
		rollout: down,
		scaleAt: 2,
		polls:   []*detector.Observation{ptr(obs(traffic{"", 20, 0})), nil, nil, nil},
		want:    []*judged{{Requests: 20}, {Basis: detector.BasisStopped, Requests: 20, Ratio: 1}, {Basis: detector.BasisScaledToZero}, {Basis: detector.BasisScaledToZero}},
	}, {
		name:    "a failing workload scaled to zero, its metrics gone, wants nothing",
		rollout: zero,
		polls:   []*detector.Observation{ptr(obs(traffic{"", 20, 0.9})), nil},
		want:    []*judged{{Requests: 20, Ratio: 0.9}, {Basis: detector.BasisScaledToZero}},
	}, {
		name:    "a workload scaled to zero whose last requests trickle below the volume floor wants nothing",
		rollout: zero,
		polls:   []*detector.Observation{ptr(obs(traffic{"", 20, 0.9})), ptr(obs(traffic{"", 0.2, 1}))},
		want:    []*judged{{Requests: 20, Ratio: 0.9}, {Basis: detector.BasisScaledToZero}},
	}, {
		name:    "silence of a workload without a Deployment is unknown, never scaled to zero",
		unknown: true,
		polls:   []*detector.Observation{ptr(obs(traffic{"", 20, 0.9})), nil},
		want:    []*judged{{Requests: 20, Ratio: 0.9}, nil},
	}, {
		name:    "no replica available but no status written (a recording without status): nothing judged",
		rollout: history.Rollout{Replicas: 3, ChangedAt: at(1)},
		polls:   []*detector.Observation{ptr(obs(traffic{"", 20, 0})), nil},
		want:    []*judged{{Requests: 20}, nil},
	}, {
		name:    "silence with replicas available is unknown, never failing",
		rollout: history.Rollout{Replicas: 3, Available: 3, StatusKnown: true, ChangedAt: at(1)},
		polls:   []*detector.Observation{ptr(obs(traffic{"", 20, 0})), nil},
		want:    []*judged{{Requests: 20}, nil},
	}, {
		name:    "silence after a change older than the link window is not a stop it caused",
		rollout: history.Rollout{Replicas: 3, StatusKnown: true, ChangedAt: t0.Add(-time.Hour)},
		polls:   []*detector.Observation{ptr(obs(traffic{"", 20, 0})), nil},
		want:    []*judged{{Requests: 20}, nil},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr := New(opts())
			deps := &fakeDeployments{rollout: tc.rollout, unknown: tc.unknown}
			var got []*judged
			for i, p := range tc.polls {
				if tc.scaleAt > 0 && i == tc.scaleAt {
					deps.rollout.Replicas = 0
				}
				var in []detector.Observation
				if p != nil {
					in = append(in, *p)
				}
				// A neighbour keeps the answer non-empty, as a live source's is.
				in = append(in, detector.Observation{Workload: workload.Ref{Namespace: "shop", Name: "web"}, Requests: 10})
				var j *judged
				for _, o := range tr.Poll(at(i), in, deps) {
					if o.Workload == cart {
						j = &judged{Basis: o.Basis, Requests: round(o.Requests), Ratio: round(o.Ratio())}
					}
				}
				got = append(got, j)
			}
			for _, w := range tc.want {
				if w != nil {
					w.Requests, w.Ratio = round(w.Requests), round(w.Ratio)
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("judged (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNoAnswerIsNoEvidenceOfAStop(t *testing.T) {
	tr := New(opts())
	deps := &fakeDeployments{rollout: history.Rollout{Replicas: 3, StatusKnown: true, ChangedAt: at(1)}}
	tr.Poll(at(0), []detector.Observation{obs(traffic{"", 20, 0})}, deps)
	if got := tr.Poll(at(1), nil, deps); got != nil {
		t.Errorf("a failed poll judged %v, want nothing", got)
	}
}

func TestBeganAndFailingRevision(t *testing.T) {
	deps := &fakeDeployments{rollout: history.Rollout{Replicas: 3, Available: 3, StatusKnown: true}}
	cases := []struct {
		name        string
		polls       []detector.Observation
		wantBegan   int // poll index; -1: zero
		wantFailing int64
	}{{
		name: "errors begin when the ratio leaves the healthy band, not when it crosses the threshold",
		polls: []detector.Observation{obs(traffic{"", 40, 0.01}), obs(traffic{"", 40, 0.1}), obs(traffic{"", 40, 0.3}),
			obs(traffic{"", 40, 0.9})},
		wantBegan: 1,
	}, {
		name:      "a healthy poll ends the run",
		polls:     []detector.Observation{obs(traffic{"", 40, 0.3}), obs(traffic{"", 40, 0.01}), obs(traffic{"", 40, 0.9})},
		wantBegan: 2,
	}, {
		name:      "polls below the volume floor neither start nor end a run",
		polls:     []detector.Observation{obs(traffic{"", 40, 0.9}), obs(traffic{"", 0.1, 0}), obs(traffic{"", 40, 0.9})},
		wantBegan: 0,
	}, {
		name: "the old pods failed first, then the new ones: the old revision is the failing one",
		polls: []detector.Observation{obs(traffic{"aaa", 40, 0.01}), obs(traffic{"aaa", 40, 0.9}),
			obs(traffic{"aaa", 30, 0.9}, traffic{"bbb", 10, 0.9}), obs(traffic{"bbb", 40, 0.9})},
		wantBegan: 1, wantFailing: 1,
	}, {
		name: "the new pods fail while the old serve: the new revision is the failing one",
		polls: []detector.Observation{obs(traffic{"aaa", 40, 0.01}), obs(traffic{"aaa", 36, 0.01}, traffic{"bbb", 4, 0.95}),
			obs(traffic{"aaa", 20, 0.01}, traffic{"bbb", 20, 0.95})},
		wantBegan: 1, wantFailing: 2,
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr := New(opts())
			for i, o := range tc.polls {
				tr.Poll(at(i), []detector.Observation{o}, deps)
			}
			ev, ok := tr.Evidence(cart)
			if !ok {
				t.Fatal("no evidence")
			}
			want := time.Time{}
			if tc.wantBegan >= 0 {
				want = at(tc.wantBegan)
			}
			if !ev.Began.Equal(want) {
				t.Errorf("began %s, want %s", ev.Began, want)
			}
			f, ok := ev.FailingRevision()
			if got := map[bool]int64{true: f.Revision}[ok]; got != tc.wantFailing {
				t.Errorf("failing revision %d, want %d", got, tc.wantFailing)
			}
		})
	}
}

func ptr(o detector.Observation) *detector.Observation { return &o }

func round(v float64) float64 { return float64(int64(v*1e6+0.5)) / 1e6 }

// Resolve sums the series of one ReplicaSet, named by hash or by name
// and in any order, newest revision first: every series counts, however
// many the ReplicaSet has.
func TestResolveSumsTheSeriesOfOneReplicaSet(t *testing.T) {
	o := detector.Observation{Workload: cart, Revisions: []detector.RevisionTraffic{
		{Revision: "aaa", Requests: 10},
		{Revision: "cart-bbb", Requests: 5, Failures: 5},
		{Revision: "bbb", Requests: 5, Failures: 1},
		{Revision: "cart-aaa", Requests: 2},
		{Revision: "zzz", Requests: 7, Failures: 7}, // not cart's: left out
		{Revision: "aaa", Requests: 0},              // served nothing
	}}
	type rev struct {
		Name               string
		Requests, Failures float64
	}
	var got []rev
	for _, r := range Resolve(o, &fakeDeployments{}) {
		got = append(got, rev{r.Name, r.Requests, r.Failures})
	}
	want := []rev{{"cart-bbb", 10, 6}, {"cart-aaa", 12, 0}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Resolve (-want +got):\n%s", diff)
	}
}

// TestWholeSaysWhy: when the newest revision's pods fail and the workload
// is judged as a whole anyway, the evidence says why; the traffic no
// revision label resolves is kept apart, never lost.
func TestWholeSaysWhy(t *testing.T) {
	type said struct {
		Basis      detector.Basis
		Whole      Whole
		Unlabelled float64
		Unresolved []string
	}
	cases := []struct {
		name string
		poll detector.Observation
		want said
	}{
		{"old pods healthy: the revision rule", obs(traffic{"aaa", 36, 0.01}, traffic{"bbb", 4, 0.95}),
			said{Basis: detector.BasisRevision}},
		{"old pods failing too", obs(traffic{"aaa", 36, 0.3}, traffic{"bbb", 4, 0.95}),
			said{Whole: WholeOlderFailing}},
		{"old pods unlabelled", obs(traffic{"", 36, 0.01}, traffic{"bbb", 4, 0.95}),
			said{Whole: WholeUnlabelled, Unlabelled: 36}},
		{"old pods' labels name a ReplicaSet that is gone", obs(traffic{"cart-gone", 36, 0.01}, traffic{"bbb", 4, 0.95}),
			said{Whole: WholeGone, Unresolved: []string{"cart-gone"}}},
		{"unlabelled below the volume floor: only the new pods serve", obs(traffic{"", 0.3, 0}, traffic{"bbb", 40, 0.95}),
			said{}},
		{"new pods healthy, old pods unlabelled and failing: nothing to explain", obs(traffic{"", 36, 0.9}, traffic{"bbb", 4, 0.01}),
			said{Unlabelled: 36}},
		{"only a gone ReplicaSet's labels: kept apart", obs(traffic{"cart-gone", 40, 0.9}),
			said{Unresolved: []string{"cart-gone"}}},
	}
	deps := &fakeDeployments{rollout: history.Rollout{Replicas: 3, Available: 3, StatusKnown: true}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr := New(opts())
			tr.Poll(at(0), []detector.Observation{tc.poll}, deps)
			ev, _ := tr.Evidence(cart)
			got := said{Basis: ev.Judged.Basis, Whole: ev.Whole, Unlabelled: ev.Unlabelled}
			for _, rt := range ev.Unresolved {
				got.Unresolved = append(got.Unresolved, rt.Revision)
			}
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateApprox(0, 1e-9)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if j := tr.Judge(tc.poll, deps); j.Basis != got.Basis {
				t.Errorf("Judge chose %q, the poll %q", j.Basis, got.Basis)
			}
		})
	}
}
