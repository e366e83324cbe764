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

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/detector"
	"github.com/sentinel-sre/sentinel/history"
	"github.com/sentinel-sre/sentinel/incident"
	"github.com/sentinel-sre/sentinel/rollback"
	"github.com/sentinel-sre/sentinel/source"
	"github.com/sentinel-sre/sentinel/workload"
)

var (
	t0   = time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)
	cart = workload.Ref{Namespace: "shop", Name: "cart"}
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

// runScenario drives the engine: a healthy revision 1 for 10 minutes, a change
// by manager at minute 10, failures from 10:15 to 20:00, healthy after.
func runScenario(t *testing.T, manager string, exec Executor, srcErr func(time.Time) error, opts ...Option) (*collect, *Engine) {
	t.Helper()
	out := &collect{}
	return out, runScenarioWith(t, out, manager, exec, srcErr, opts...)
}

// runScenarioWith is runScenario telling out.
func runScenarioWith(t *testing.T, out Notifier, manager string, exec Executor, srcErr func(time.Time) error, opts ...Option) *Engine {
	t.Helper()
	return runScenarioConfig(t, config.Default(), out, manager, exec, srcErr, opts...)
}

// runScenarioConfig is runScenarioWith on cfg.
func runScenarioConfig(t *testing.T, cfg config.Config, out Notifier, manager string, exec Executor, srcErr func(time.Time) error, opts ...Option) *Engine {
	t.Helper()
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
	e := New(cfg, src, exec, out, zap.NewNop(), opts...)
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
	return e
}

func kinds(as []incident.Action) []incident.Kind {
	var out []incident.Kind
	for _, a := range as {
		out = append(out, a.Kind)
	}
	return out
}

// pageView is what a page says about its cause and its decision.
type pageView struct {
	Manager  string // of the linked change; "" when none was linked
	Rollback bool   // the decision carries a plan
	Reason   rollback.Reason
}

func viewPage(a incident.Action) pageView {
	v := pageView{Rollback: a.Decision.Plan != nil, Reason: a.Decision.Reason}
	if a.Cause != nil {
		v.Manager = a.Cause.Manager
	}
	return v
}

// planView is what a rollback plan targets.
type planView struct {
	ToRevision      int64
	ResourceVersion string
}

func viewPlans(ps []*rollback.Plan) []planView {
	var out []planView
	for _, p := range ps {
		out = append(out, planView{ToRevision: p.ToRevision, ResourceVersion: p.ResourceVersion})
	}
	return out
}

func TestPagesRollsBackAndResolvesOnce(t *testing.T) {
	exec := &executor{}
	out, e := runScenario(t, "kubectl-set", exec, nil)
	want := []incident.Kind{incident.Page, incident.Rollback, incident.Resolve}
	if diff := cmp.Diff(want, kinds(out.actions)); diff != "" {
		t.Fatalf("actions (-want +got):\n%s", diff)
	}
	page, rb := out.actions[0], out.actions[1]
	if diff := cmp.Diff(pageView{Manager: "kubectl-set", Rollback: true, Reason: rollback.ReasonOutOfBandImage}, viewPage(page)); diff != "" {
		t.Errorf("page (-want +got):\n%s", diff)
	}
	if !page.At.Equal(rb.At) || page.Incident != rb.Incident || page.Incident != out.actions[2].Incident {
		t.Error("page, rollback and resolve do not share the incident and time")
	}
	if diff := cmp.Diff([]planView{{ToRevision: 1, ResourceVersion: "2"}}, viewPlans(exec.plans)); diff != "" {
		t.Errorf("plans (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]int{resultDone: 1}, rollbacksByResult(e)); diff != "" {
		t.Errorf("sentinel_rollbacks_total (-want +got):\n%s", diff)
	}
	if got := testutil.ToFloat64(e.metrics.incidentsTotal); got != 1 {
		t.Errorf("sentinel_incidents_total %v, want 1", got)
	}
	if got := testutil.ToFloat64(e.metrics.incidentsOpen); got != 0 {
		t.Errorf("sentinel_incidents_open %v after the resolve, want 0", got)
	}
}

func TestHelmChangePagesOnly(t *testing.T) {
	exec := &executor{}
	out, e := runScenario(t, "helm", exec, nil)
	if diff := cmp.Diff([]incident.Kind{incident.Page, incident.Resolve}, kinds(out.actions)); diff != "" {
		t.Fatalf("actions (-want +got):\n%s", diff)
	}
	if len(exec.plans) != 0 {
		t.Error("executor called for a Helm change")
	}
	if diff := cmp.Diff(pageView{Manager: "helm", Reason: rollback.ReasonTrustedDeployer}, viewPage(out.actions[0])); diff != "" {
		t.Errorf("page (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[rollback.Reason]int{rollback.ReasonTrustedDeployer: 1}, refusals(e)); diff != "" {
		t.Errorf("refusals (-want +got):\n%s", diff)
	}
}

func TestFailedRollbackIsReported(t *testing.T) {
	exec := &executor{err: errors.New("conflict")}
	out, e := runScenario(t, "kubectl-set", exec, nil)
	want := []incident.Kind{incident.Page, incident.RollbackFailed, incident.Resolve}
	if diff := cmp.Diff(want, kinds(out.actions)); diff != "" {
		t.Fatalf("actions (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff("rollback to revision 1 not done: conflict", out.actions[1].Message); diff != "" {
		t.Errorf("notice (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]int{resultFailed: 1}, rollbacksByResult(e)); diff != "" {
		t.Errorf("sentinel_rollbacks_total (-want +got):\n%s", diff)
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
	unanswered := 0
	out, e := runScenario(t, "kubectl-set", &executor{}, down, countUnanswered(&unanswered))
	if len(out.actions) != 0 {
		t.Errorf("actions %v while the source was down", kinds(out.actions))
	}
	if unanswered != 43 {
		t.Errorf("sentinel_source_up read 0 after %d polls, want 43", unanswered)
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
	if diff := cmp.Diff([]incident.Kind{incident.Page, incident.Rollback}, kinds(out.actions)); diff != "" {
		t.Fatalf("after takeover: actions (-want +got):\n%s", diff)
	}
	if len(exec.plans) != 1 {
		t.Fatalf("after takeover: %d rollbacks, want 1", len(exec.plans))
	}
	p := out.actions[0]
	if !p.At.Equal(takeover) || p.Onset.After(t0.Add(11*time.Minute)) {
		t.Errorf("page at %v onset %v: want announced at takeover with the original onset", p.At, p.Onset)
	}
}

// noticeView is what a notice says, when, and of which incident.
type noticeView struct {
	Kind     incident.Kind
	At       time.Time
	Incident string
	Message  string
}

func viewNotices(as []incident.Action) []noticeView {
	var out []noticeView
	for _, a := range as {
		out = append(out, noticeView{Kind: a.Kind, At: a.At, Incident: a.Incident, Message: a.Message})
	}
	return out
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
	want := []noticeView{{Kind: incident.Blind, At: t0.Add(45 * time.Second),
		Message: "blind: the metrics source has not answered for 4 polls: observe metrics at 2026-03-10T09:00:45Z: connection refused"}}
	if diff := cmp.Diff(want, viewNotices(out.actions)); diff != "" {
		t.Fatalf("actions (-want +got):\n%s", diff)
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
		var want []incident.Kind
		if enabled {
			want = []incident.Kind{incident.Drift} // the kubectl change; helm's is trusted
		}
		if diff := cmp.Diff(want, kinds(out.actions)); diff != "" {
			t.Fatalf("drift_notices=%v: actions (-want +got):\n%s", enabled, diff)
		}
		if a := out.actions; enabled &&
			!strings.HasSuffix(a[0].Summary(), "/cart: drift: image changed outside the trusted deployers by kubectl-set to cart:3") {
			t.Errorf("drift notice %q", a[0].Summary())
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
	if diff := cmp.Diff([]incident.Kind{incident.Resolve}, kinds(out.actions)); diff != "" {
		t.Fatalf("actions (-want +got):\n%s", diff)
	}
	if want := "shop/cart@2026-03-10T09:01:00Z"; out.actions[0].Incident != want {
		t.Errorf("resolved %q, want %q", out.actions[0].Incident, want)
	}
}

func TestDeletedDeploymentResolvesItsIncident(t *testing.T) {
	out := &collect{}
	deleted := false
	src := script(func(at time.Time) ([]detector.Observation, error) {
		if deleted {
			return nil, nil
		}
		return []detector.Observation{{Workload: cart, Requests: 40, Failures: 36}}, nil
	})
	var state detector.State
	e := New(config.Default(), src, &executor{}, out, zap.NewNop(), WithPollHook(func(r PollRecord) {
		state, _ = r.State(cart)
	}))
	e.ObserveDeployment(deployment("1", "1", "cart:1", "helm", t0), t0)
	for i := 0; i < 4; i++ {
		_ = e.Poll(t.Context(), t0.Add(time.Duration(i)*15*time.Second))
	}
	e.DeleteDeployment("shop", "cart")
	deleted = true
	_ = e.Poll(t.Context(), t0.Add(time.Minute))
	if diff := cmp.Diff([]incident.Kind{incident.Page, incident.Resolve}, kinds(out.actions)); diff != "" {
		t.Fatalf("actions (-want +got):\n%s", diff)
	}
	page := out.actions[0]
	want := noticeView{Kind: incident.Resolve, At: t0.Add(45 * time.Second), Incident: page.Incident, Message: "the Deployment was deleted"}
	if diff := cmp.Diff(want, viewNotices(out.actions)[1]); diff != "" {
		t.Errorf("resolve (-want +got):\n%s", diff)
	}
	// Nothing is left open: the detector forgot the workload, and later
	// polls resolve nothing more.
	for i := 5; i < 10; i++ {
		_ = e.Poll(t.Context(), t0.Add(time.Duration(i)*15*time.Second))
	}
	if state != detector.StateOK {
		t.Errorf("detector state %v after delete, want %v", state, detector.StateOK)
	}
	if got := len(out.actions); got != 2 {
		t.Errorf("%d actions after the delete's resolve, want none", got-2)
	}
}

func TestEmptyAnswersAreUnknownButNotBlind(t *testing.T) {
	cfg := config.Default()
	cfg.Paging.PagerDuty.PageWhenBlind = true
	out := &collect{}
	unanswered := 0
	e := New(cfg, script(func(time.Time) ([]detector.Observation, error) {
		return nil, fmt.Errorf("query: %w", source.ErrNoData)
	}), &executor{}, out, zap.NewNop(), countUnanswered(&unanswered))
	for i := 0; i < 10; i++ {
		_ = e.Poll(t.Context(), t0.Add(time.Duration(i)*15*time.Second))
	}
	if diff := cmp.Diff([]incident.Kind(nil), kinds(out.actions)); diff != "" {
		t.Errorf("an idle mesh made sentinel act (-want +got):\n%s", diff)
	}
	if unanswered != 0 {
		t.Errorf("an idle mesh read sentinel_source_up 0 after %d polls, want none", unanswered)
	}
	if got := testutil.ToFloat64(e.metrics.blind); got != 0 {
		t.Errorf("an idle mesh read sentinel_blind %v, want 0", got)
	}
}

type refusing struct{ executor }

func (r *refusing) Rollback(_ context.Context, p *rollback.Plan) error {
	r.plans = append(r.plans, p)
	return &rollback.StaleError{Reason: rollback.ReasonPaused, Detail: "the Deployment is paused"}
}

func TestStalePlanIsARefusalNotAFailure(t *testing.T) {
	exec := &refusing{}
	out, e := runScenario(t, "kubectl-set", exec, nil)
	if diff := cmp.Diff(map[string]int{resultSkipped: 1}, rollbacksByResult(e)); diff != "" {
		t.Errorf("sentinel_rollbacks_total (-want +got):\n%s", diff)
	}
	want := []incident.Kind{incident.Page, incident.RollbackFailed, incident.Resolve}
	if diff := cmp.Diff(want, kinds(out.actions)); diff != "" {
		t.Fatalf("actions (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff("rollback to revision 1 not done: rollback not written: the Deployment is paused", out.actions[1].Message); diff != "" {
		t.Errorf("notice (-want +got):\n%s", diff)
	}
}
