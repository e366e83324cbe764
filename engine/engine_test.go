package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/detector"
	"github.com/sentinel-sre/sentinel/history"
	"github.com/sentinel-sre/sentinel/incident"
	"github.com/sentinel-sre/sentinel/rollback"
)

var (
	t0   = time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)
	cart = detector.Workload{Namespace: "shop", Name: "cart"}
)

// script is a metrics source answering from a function of time.
type script func(at time.Time) ([]detector.Observation, error)

func (s script) Observe(_ context.Context, at time.Time) ([]detector.Observation, error) {
	return s(at)
}

type executor struct {
	plans []*rollback.Plan
	err   error
}

func (e *executor) Rollback(_ context.Context, p *rollback.Plan) error {
	e.plans = append(e.plans, p)
	return e.err
}

func (e *executor) Verify(context.Context, *rollback.Plan) error { return nil }

type collect struct{ actions []incident.Action }

func (c *collect) Notify(_ context.Context, a incident.Action) error {
	c.actions = append(c.actions, a)
	return nil
}

func deployment(rv string, rev string, image, manager string, changedAt time.Time) *appsv1.Deployment {
	tm := metav1.NewTime(changedAt)
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "cart", Namespace: "shop", ResourceVersion: rv,
			Annotations: map[string]string{history.RevisionAnnotation: rev},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: manager, Operation: "Update", Time: &tm,
				FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"cart\"}":{"f:image":{}}}}}}}`)}}}},
		Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "cart"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "cart", Image: image}}}}},
	}
}

func replicaSet(d *appsv1.Deployment, name string) *appsv1.ReplicaSet {
	yes := true
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop",
		Annotations:     map[string]string{history.RevisionAnnotation: d.Annotations[history.RevisionAnnotation]},
		OwnerReferences: []metav1.OwnerReference{{Kind: "Deployment", Name: "cart", Controller: &yes}}},
		Spec: appsv1.ReplicaSetSpec{Template: *d.Spec.Template.DeepCopy()}}
	rs.Spec.Template.Labels["pod-template-hash"] = name
	return rs
}

// run drives the engine: a healthy revision 1 for 10 minutes, a change
// by manager at minute 10, failures from 10:15 to 20:00, healthy after.
func run(t *testing.T, manager string, exec *executor, srcErr func(time.Time) error) (*collect, *Engine) {
	t.Helper()
	return runScenario(t, manager, exec, srcErr)
}

func runWith(t *testing.T, manager string, exec Executor, opts ...Option) (*collect, *Engine) {
	t.Helper()
	return runScenario(t, manager, exec, nil, opts...)
}

func runScenario(t *testing.T, manager string, exec Executor, srcErr func(time.Time) error, opts ...Option) (*collect, *Engine) {
	t.Helper()
	out := &collect{}
	src := script(func(at time.Time) ([]detector.Observation, error) {
		if srcErr != nil {
			if err := srcErr(at); err != nil {
				return nil, err
			}
		}
		ratio := 0.01
		if at.After(t0.Add(10*time.Minute+15*time.Second)) && at.Before(t0.Add(20*time.Minute)) {
			ratio = 0.9
		}
		return []detector.Observation{{Workload: cart, Requests: 40, Failures: 40 * ratio}}, nil
	})
	e := New(config.Default(), src, exec, out, zap.NewNop(), opts...)
	d1 := deployment("1", "1", "cart:1", "helm", t0)
	e.ObserveDeployment(d1, t0)
	e.ObserveReplicaSet(replicaSet(d1, "cart-1"))
	for now := t0; now.Before(t0.Add(30 * time.Minute)); now = now.Add(15 * time.Second) {
		if now.Equal(t0.Add(10 * time.Minute)) {
			d2 := deployment("2", "2", "cart:2", manager, now)
			e.ObserveReplicaSet(replicaSet(d2, "cart-2"))
			e.ObserveDeployment(d2, now)
		}
		_ = e.Poll(t.Context(), now)
	}
	return out, e
}

func kinds(as []incident.Action) []incident.Kind {
	var out []incident.Kind
	for _, a := range as {
		out = append(out, a.Kind)
	}
	return out
}

func TestPagesRollsBackAndResolvesOnce(t *testing.T) {
	exec := &executor{}
	out, e := run(t, "kubectl-set", exec, nil)
	got := kinds(out.actions)
	want := []incident.Kind{incident.Page, incident.Rollback, incident.Resolve}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("actions %v, want %v", got, want)
	}
	page, rb := out.actions[0], out.actions[1]
	if page.Cause == nil || page.Cause.Manager != "kubectl-set" || !page.Decision.Rollback {
		t.Errorf("page %+v", page)
	}
	if !page.At.Equal(rb.At) || page.Incident != rb.Incident || page.Incident != out.actions[2].Incident {
		t.Error("page, rollback and resolve do not share the incident and time")
	}
	if len(exec.plans) != 1 || exec.plans[0].ToRevision != 1 || exec.plans[0].ResourceVersion != "2" {
		t.Errorf("plans %+v", exec.plans)
	}
	if s := e.Stats(); s.Pages != 1 || s.Rollbacks != 1 || s.Resolves != 1 {
		t.Errorf("stats %+v", s)
	}
}

func TestHelmChangePagesOnly(t *testing.T) {
	exec := &executor{}
	out, e := run(t, "helm", exec, nil)
	if got := kinds(out.actions); len(got) != 2 || got[0] != incident.Page || got[1] != incident.Resolve {
		t.Fatalf("actions %v", got)
	}
	if len(exec.plans) != 0 {
		t.Error("executor called for a Helm change")
	}
	if out.actions[0].Decision.Reason != rollback.ReasonTrustedDeployer || e.Stats().Refused[rollback.ReasonTrustedDeployer] != 1 {
		t.Errorf("decision %+v", out.actions[0].Decision)
	}
}

func TestFailedRollbackIsReported(t *testing.T) {
	exec := &executor{err: errors.New("conflict")}
	out, e := run(t, "kubectl-set", exec, nil)
	got := kinds(out.actions)
	if len(got) != 3 || got[1] != incident.RollbackFailed {
		t.Fatalf("actions %v, want page, notice, resolve", got)
	}
	if out.actions[1].Message != "rollback to revision 1 not done: conflict" {
		t.Errorf("notice %q", out.actions[1].Message)
	}
	if s := e.Stats(); s.Rollbacks != 0 || s.RollbackErrors != 1 {
		t.Errorf("stats %+v", s)
	}
}

func TestSourceErrorsAreUnknownNeverFailing(t *testing.T) {
	// The source fails for the whole spike: nothing may page.
	down := func(at time.Time) error {
		if at.After(t0.Add(10*time.Minute)) && at.Before(t0.Add(21*time.Minute)) {
			return errors.New("connection refused")
		}
		return nil
	}
	out, e := run(t, "kubectl-set", &executor{}, down)
	if len(out.actions) != 0 {
		t.Errorf("actions %v while the source was down", kinds(out.actions))
	}
	if s := e.Stats(); s.SourceErrors != 43 {
		t.Errorf("source errors %d, want 43", s.SourceErrors)
	}
	err := e.Poll(t.Context(), t0.Add(15*time.Minute))
	if err == nil || err.Error() != "observe metrics at 2026-03-10T09:15:00Z: connection refused" {
		t.Errorf("error %v", err)
	}
}

func TestStandbyStaysSilentAndAnnouncesOnTakeover(t *testing.T) {
	exec := &executor{}
	out := &collect{}
	leader := false
	src := script(func(at time.Time) ([]detector.Observation, error) {
		ratio := 0.01
		if at.After(t0.Add(10 * time.Minute)) {
			ratio = 0.9
		}
		return []detector.Observation{{Workload: cart, Requests: 40, Failures: 40 * ratio}}, nil
	})
	e := New(config.Default(), src, exec, out, zap.NewNop(), WithActive(func() bool { return leader }))
	d1 := deployment("1", "1", "cart:1", "helm", t0)
	e.ObserveDeployment(d1, t0)
	e.ObserveReplicaSet(replicaSet(d1, "cart-1"))
	takeover := t0.Add(12 * time.Minute)
	for now := t0; now.Before(t0.Add(15 * time.Minute)); now = now.Add(15 * time.Second) {
		if now.Equal(t0.Add(10 * time.Minute)) {
			d2 := deployment("2", "2", "cart:2", "kubectl-set", now)
			e.ObserveReplicaSet(replicaSet(d2, "cart-2"))
			e.ObserveDeployment(d2, now)
		}
		leader = !now.Before(takeover)
		if !leader && len(out.actions)+len(exec.plans) > 0 {
			t.Fatalf("standby acted at %v", now)
		}
		_ = e.Poll(t.Context(), now)
	}
	got := kinds(out.actions)
	if len(got) != 2 || got[0] != incident.Page || got[1] != incident.Rollback || len(exec.plans) != 1 {
		t.Fatalf("after takeover: actions %v, %d rollbacks; want one page and one rollback", got, len(exec.plans))
	}
	p := out.actions[0]
	if !p.At.Equal(takeover) || p.Onset.After(t0.Add(11*time.Minute)) {
		t.Errorf("page at %v onset %v: want announced at takeover with the original onset", p.At, p.Onset)
	}
}

func TestBlindAfterPollsWithoutAnswer(t *testing.T) {
	cfg := config.Default()
	cfg.Paging.PagerDuty.PageWhenBlind = true
	out := &collect{}
	down := true
	src := script(func(time.Time) ([]detector.Observation, error) {
		if down {
			return nil, errors.New("connection refused")
		}
		return nil, nil
	})
	e := New(cfg, src, &executor{}, out, zap.NewNop())
	for i := 0; i < 10; i++ {
		_ = e.Poll(t.Context(), t0.Add(time.Duration(i)*15*time.Second))
	}
	if len(out.actions) != 1 || out.actions[0].Kind != incident.Blind || out.actions[0].Incident != "" ||
		out.actions[0].Message != "blind: the metrics source has not answered for 4 polls: observe metrics at 2026-03-10T09:00:45Z: connection refused" {
		t.Fatalf("actions %+v, want one blind notice", out.actions)
	}
	if !out.actions[0].At.Equal(t0.Add(45 * time.Second)) {
		t.Errorf("blind at %v", out.actions[0].At)
	}
}

func TestDriftNoticeOnlyWhenEnabled(t *testing.T) {
	for _, enabled := range []bool{false, true} {
		cfg := config.Default()
		cfg.Paging.PagerDuty.DriftNotices = enabled
		out := &collect{}
		e := New(cfg, script(func(time.Time) ([]detector.Observation, error) { return nil, nil }), &executor{}, out, zap.NewNop())
		e.ObserveDeployment(deployment("1", "1", "cart:1", "helm", t0), t0)
		e.ObserveDeployment(deployment("2", "2", "cart:2", "helm", t0.Add(time.Minute)), t0.Add(time.Minute))
		e.ObserveDeployment(deployment("3", "3", "cart:3", "kubectl-set", t0.Add(2*time.Minute)), t0.Add(2*time.Minute))
		_ = e.Poll(t.Context(), t0.Add(3*time.Minute))
		want := 0
		if enabled {
			want = 1 // the kubectl change; helm's is trusted
		}
		if len(out.actions) != want {
			t.Fatalf("drift_notices=%v: actions %+v", enabled, out.actions)
		}
		if a := out.actions; enabled && (a[0].Kind != incident.Drift ||
			!strings.HasSuffix(a[0].Summary(), "/cart: drift: image changed outside the trusted deployers by kubectl-set to cart:3")) {
			t.Errorf("drift notice %s %q", a[0].Kind, a[0].Summary())
		}
	}
}

// The leader pages and dies; the incident ends while this replica stands
// by; when it takes over it still resolves the page.
func TestTakeoverResolvesWhatTheDeadLeaderLeftOpen(t *testing.T) {
	out := &collect{}
	leader := false
	src := script(func(at time.Time) ([]detector.Observation, error) {
		ratio := 0.01
		if !at.Before(t0.Add(time.Minute)) && at.Before(t0.Add(3*time.Minute)) {
			ratio = 0.9
		}
		return []detector.Observation{{Workload: cart, Requests: 40, Failures: 40 * ratio}}, nil
	})
	e := New(config.Default(), src, &executor{}, out, zap.NewNop(), WithActive(func() bool { return leader }))
	for now := t0; now.Before(t0.Add(10 * time.Minute)); now = now.Add(15 * time.Second) {
		leader = !now.Before(t0.Add(8 * time.Minute)) // resolved at 6:00, takeover at 8:00
		_ = e.Poll(t.Context(), now)
	}
	if got := kinds(out.actions); len(got) != 1 || got[0] != incident.Resolve {
		t.Fatalf("actions %v, want the one resolve", got)
	}
	if want := "shop/cart@2026-03-10T09:01:00Z"; out.actions[0].Incident != want {
		t.Errorf("resolved %q, want %q", out.actions[0].Incident, want)
	}
}

func TestDeletedDeploymentResolvesItsIncident(t *testing.T) {
	out := &collect{}
	src := script(func(at time.Time) ([]detector.Observation, error) {
		return []detector.Observation{{Workload: cart, Requests: 40, Failures: 36}}, nil
	})
	e := New(config.Default(), src, &executor{}, out, zap.NewNop())
	e.ObserveDeployment(deployment("1", "1", "cart:1", "helm", t0), t0)
	for i := 0; i < 4; i++ {
		_ = e.Poll(t.Context(), t0.Add(time.Duration(i)*15*time.Second))
	}
	e.DeleteDeployment("shop", "cart")
	src = script(func(time.Time) ([]detector.Observation, error) { return nil, nil })
	e.source = src
	_ = e.Poll(t.Context(), t0.Add(time.Minute))
	got := kinds(out.actions)
	if len(got) != 2 || got[0] != incident.Page || got[1] != incident.Resolve ||
		out.actions[1].Incident != out.actions[0].Incident || out.actions[1].Message != "the Deployment was deleted" {
		t.Fatalf("actions %v (%+v)", got, out.actions)
	}
	if s, _ := e.detector.State(cart); s != detector.StateOK || len(e.open) != 0 {
		t.Errorf("state %v, %d open after delete", s, len(e.open))
	}
}

func TestEmptyAnswersAreUnknownButNotBlind(t *testing.T) {
	cfg := config.Default()
	cfg.Paging.PagerDuty.PageWhenBlind = true
	out := &collect{}
	e := New(cfg, script(func(time.Time) ([]detector.Observation, error) {
		return nil, fmt.Errorf("query: %w", ErrNoData)
	}), &executor{}, out, zap.NewNop())
	for i := 0; i < 10; i++ {
		_ = e.Poll(t.Context(), t0.Add(time.Duration(i)*15*time.Second))
	}
	if len(out.actions) != 0 || e.Stats().SourceErrors != 0 {
		t.Errorf("an idle mesh made sentinel blind: %+v", out.actions)
	}
}

type refusing struct{ executor }

func (r *refusing) Rollback(_ context.Context, p *rollback.Plan) error {
	r.plans = append(r.plans, p)
	return &rollback.StaleError{Reason: rollback.ReasonPaused, Detail: "the Deployment is paused"}
}

func TestStalePlanIsARefusalNotAFailure(t *testing.T) {
	exec := &refusing{}
	out, e := runWith(t, "kubectl-set", exec)
	if s := e.Stats(); s.RollbackErrors != 0 || s.Rollbacks != 0 {
		t.Errorf("stats %+v", s)
	}
	if got := kinds(out.actions); len(got) != 3 || got[1] != incident.RollbackFailed ||
		out.actions[1].Message != "rollback to revision 1 not done: rollback not written: the Deployment is paused" {
		t.Errorf("actions %v %q", got, out.actions[1].Message)
	}
}
