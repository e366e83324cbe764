package kube_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"github.com/google/go-cmp/cmp"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/history"
	"github.com/sentinel-sre/sentinel/kube"
	"github.com/sentinel-sre/sentinel/rollback"
	"github.com/sentinel-sre/sentinel/workload"
)

// The fixtures are the demo of the e2e tests in miniature: Deployment
// shop/web at revision 2 (image v2, failing), decided at resourceVersion
// 100, to be rolled back to ReplicaSet web-v1 (revision 1, image v1).

const ns = "shop"

// now is the fake clock's time: what the rolled-back-at annotation and
// the Event must carry.
var now = time.Date(2026, 4, 24, 23, 51, 30, 0, time.UTC)

var deploymentsResource = appsv1.SchemeGroupVersion.WithResource("deployments")

func podTemplate(image string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/web:" + image}}},
	}
}

// deployment is shop/web at revision 2 running image v2, as the decision
// saw it.
func deployment() *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns, UID: "uid-web", ResourceVersion: "100", Generation: 2,
			Annotations: map[string]string{history.RevisionAnnotation: "2", "team": "shop"}},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: podTemplate("v2"),
		},
		Status: appsv1.DeploymentStatus{ObservedGeneration: 2},
	}
}

// replicaSet is one of web's ReplicaSets: at revision rev, running image,
// its template labelled with a pod-template-hash as the controller does.
func replicaSet(name, rev, image string) *appsv1.ReplicaSet {
	tmpl := podTemplate(image)
	tmpl.Labels = map[string]string{"app": "web", appsv1.DefaultDeploymentUniqueLabelKey: name}
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: tmpl.Labels,
			Annotations: map[string]string{history.RevisionAnnotation: rev},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", UID: "uid-web",
				Controller: ptr.To(true)}}},
		Spec: appsv1.ReplicaSetSpec{Template: tmpl},
	}
}

// plan is the rollback the decision took: revision 2 → 1, to web-v1's
// template without its pod-template-hash label.
func plan() *rollback.Plan {
	d := deployment()
	return &rollback.Plan{
		Workload:        workload.Ref{Namespace: ns, Name: "web"},
		Incident:        "shop/web@2026-04-24T23:50:00Z",
		ResourceVersion: d.ResourceVersion,
		FromRevision:    2,
		ToRevision:      1,
		FromImages:      []history.Image{{Container: "app", Image: "registry.example/web:v2"}},
		ToImages:        []history.Image{{Container: "app", Image: "registry.example/web:v1"}},
		FromFingerprint: history.Fingerprint(&d.Spec.Template),
		ReplicaSet:      "web-v1",
		Template:        podTemplate("v1"),
		Reason:          rollback.ReasonOutOfBandImage,
		Cooldown:        30 * time.Minute,
	}
}

func newExecutor(t *testing.T, client *fake.Clientset, clk *clocktesting.FakeClock) *kube.Executor {
	exec := kube.NewExecutor(client, clk, zaptest.NewLogger(t), 2*time.Minute)
	rec, stop := kube.NewEventRecorder(client)
	t.Cleanup(stop)
	exec.Events = rec
	return exec
}

// endReason marks the end of what an executor recorded.
const endReason = "TestEnd"

// settle records an end marker through exec's recorder and waits for it
// to reach the API: the recorder writes in order, so every Event the
// executor recorded before is then written too. It returns the actions
// sent before the marker.
func settle(t *testing.T, client *fake.Clientset, exec *kube.Executor) []k8stesting.Action {
	t.Helper()
	exec.Events.Event(deployment(), corev1.EventTypeNormal, endReason, "end of test")
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for i, a := range client.Actions() {
			if c, ok := a.(k8stesting.CreateActionImpl); ok {
				if ev, ok := c.GetObject().(*corev1.Event); ok && ev.Reason == endReason {
					return client.Actions()[:i]
				}
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("the end marker Event was never written")
	return nil
}

// verbs are the API actions sent, as "verb resource".
func verbs(actions []k8stesting.Action) []string {
	out := make([]string, 0, len(actions))
	for _, a := range actions {
		out = append(out, a.GetVerb()+" "+a.GetResource().Resource)
	}
	return out
}

// patches are the Deployment patches sent.
func patches(actions []k8stesting.Action) []k8stesting.PatchActionImpl {
	var out []k8stesting.PatchActionImpl
	for _, a := range actions {
		if p, ok := a.(k8stesting.PatchActionImpl); ok && p.GetResource() == deploymentsResource {
			out = append(out, p)
		}
	}
	return out
}

// wantAnnotations are the Deployment's annotations after the plan's
// rollback: the ones it had (extra), and sentinel's.
func wantAnnotations(p *rollback.Plan, extra map[string]string) map[string]string {
	ann := map[string]string{history.RevisionAnnotation: "2", "team": "shop",
		rollback.AnnotationIncident:     p.Incident,
		rollback.AnnotationRolledBackAt: "2026-04-24T23:51:30Z",
		rollback.AnnotationFrom:         "2",
		rollback.AnnotationTo:           "1",
		rollback.AnnotationReason:       "out_of_band_image_change",
	}
	for k, v := range extra {
		ann[k] = v
	}
	return ann
}

// checkPatch asserts the rollback patch: a JSON patch, as field manager
// sentinel (validated only, in dry-run), that replaces exactly the
// resourceVersion with the one re-checked (so the server applies it to
// that version only), the pod template with the plan's, and the
// annotations with ann.
func checkPatch(t *testing.T, a k8stesting.PatchActionImpl, resourceVersion string, p *rollback.Plan, ann map[string]string) {
	t.Helper()
	if a.GetNamespace() != ns || a.GetName() != "web" || a.GetPatchType() != types.JSONPatchType {
		t.Errorf("patch of %s/%s, type %s; want a JSON patch of %s/web", a.GetNamespace(), a.GetName(), a.GetPatchType(), ns)
	}
	if a.PatchOptions.FieldManager != rollback.FieldManager {
		t.Errorf("field manager %q, want %q", a.PatchOptions.FieldManager, rollback.FieldManager)
	}
	var wantDryRun []string
	if p.DryRun {
		wantDryRun = []string{metav1.DryRunAll}
	}
	if diff := cmp.Diff(wantDryRun, a.PatchOptions.DryRun); diff != "" {
		t.Errorf("dryRun (-want +got):\n%s", diff)
	}
	var ops []struct {
		Op, Path string
		Value    json.RawMessage
	}
	if err := json.Unmarshal(a.GetPatch(), &ops); err != nil {
		t.Fatalf("patch %s: %v", a.GetPatch(), err)
	}
	var paths []string
	for _, op := range ops {
		paths = append(paths, op.Op+" "+op.Path)
		var err error
		switch op.Path {
		case "/metadata/resourceVersion":
			var rv string
			if err = json.Unmarshal(op.Value, &rv); err == nil && rv != resourceVersion {
				t.Errorf("patch conditioned on resourceVersion %q, want %q (the version re-checked)", rv, resourceVersion)
			}
		case "/spec/template":
			var tmpl corev1.PodTemplateSpec
			if err = json.Unmarshal(op.Value, &tmpl); err == nil && !equality.Semantic.DeepEqual(tmpl, p.Template) {
				t.Errorf("patched template with containers %v, want the plan's %v", tmpl.Spec.Containers, p.Template.Spec.Containers)
			}
		case "/metadata/annotations":
			var got map[string]string
			if err = json.Unmarshal(op.Value, &got); err == nil && !reflect.DeepEqual(got, ann) {
				t.Errorf("patched annotations\n%v\nwant\n%v", got, ann)
			}
		}
		if err != nil {
			t.Errorf("%s %s: %v", op.Op, op.Path, err)
		}
	}
	want := []string{"replace /metadata/resourceVersion", "replace /spec/template", "replace /metadata/annotations"}
	if diff := cmp.Diff(want, paths); diff != "" {
		t.Errorf("patch operations (-want +got):\n%s", diff)
	}
}

// checkEvent asserts the one Event sentinel records for a rollback.
func checkEvent(t *testing.T, client *fake.Clientset, p *rollback.Plan) {
	t.Helper()
	evs, err := client.CoreV1().Events(ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	type event struct {
		Reason, Type, Message, Kind, Name, UID, Component string
	}
	var got []event
	for _, ev := range evs.Items {
		if ev.Reason != endReason {
			got = append(got, event{ev.Reason, ev.Type, ev.Message, ev.InvolvedObject.Kind, ev.InvolvedObject.Name,
				string(ev.InvolvedObject.UID), ev.Source.Component})
		}
	}
	want := []event{{Reason: "SentinelRollback", Type: corev1.EventTypeWarning,
		Message: fmt.Sprintf("sentinel rolled back from revision 2 to revision 1 (registry.example/web:v1) in incident %s: %s",
			p.Incident, rollback.ReasonOutOfBandImage.Explain()),
		Kind: "Deployment", Name: "web", UID: "uid-web", Component: rollback.FieldManager}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

// conflictOnce answers the first Deployment patch with 409 Conflict, as
// the API server does when the Deployment is no longer at the patch's
// resourceVersion, after change has made that newer version (a person's
// edit landing between sentinel's read and its write). Later patches go
// through.
func conflictOnce(client *fake.Clientset, change func(*appsv1.Deployment)) {
	done := false
	client.PrependReactor("patch", "deployments", func(k8stesting.Action) (bool, runtime.Object, error) {
		if done {
			return false, nil, nil
		}
		done = true
		// The tracker, not the client: reactors run under the fake's lock.
		obj, err := client.Tracker().Get(deploymentsResource, ns, "web")
		if err != nil {
			return true, nil, err
		}
		d := obj.(*appsv1.Deployment).DeepCopy()
		change(d)
		if err := client.Tracker().Update(deploymentsResource, d, ns); err != nil {
			return true, nil, err
		}
		return true, nil, apierrors.NewConflict(schema.GroupResource{Group: "apps", Resource: "deployments"}, "web",
			errors.New("the object has been modified; please apply your changes to the latest version and try again"))
	})
}

// rollbackCase is one rollback against a fake API server.
type rollbackCase struct {
	name string
	// deployment edits the Deployment as the executor first reads it,
	// target the target ReplicaSet; noTarget leaves the target out.
	deployment func(*appsv1.Deployment)
	target     func(*appsv1.ReplicaSet)
	noTarget   bool
	plan       func(*rollback.Plan)
	// react injects the API server's answers.
	react func(*fake.Clientset)
	// verbs are the API actions sent, in order.
	verbs []string
	// err checks the error; nil wants none.
	err func(t *testing.T, err error)
	// check checks the patches sent, as many as verbs has.
	check func(t *testing.T, p *rollback.Plan, sent []k8stesting.PatchActionImpl)
	// event wants the rollback's Event recorded.
	event bool
}

// happyVerbs is what a written rollback sends.
func happyVerbs() []string {
	return []string{"get deployments", "get replicasets", "patch deployments", "create events"}
}

func (tc rollbackCase) run(t *testing.T) {
	t.Helper()
	d := deployment()
	if tc.deployment != nil {
		tc.deployment(d)
	}
	objs := []runtime.Object{d, replicaSet("web-v2", "2", "v2")}
	if !tc.noTarget {
		rs := replicaSet("web-v1", "1", "v1")
		if tc.target != nil {
			tc.target(rs)
		}
		objs = append(objs, rs)
	}
	client := fake.NewClientset(objs...)
	if tc.react != nil {
		tc.react(client)
	}
	p := plan()
	if tc.plan != nil {
		tc.plan(p)
	}
	exec := newExecutor(t, client, clocktesting.NewFakeClock(now))

	err := exec.Rollback(t.Context(), p)

	if tc.err == nil && err != nil {
		t.Fatalf("rollback: %v", err)
	}
	if tc.err != nil {
		tc.err(t, err)
	}
	if diff := cmp.Diff(tc.verbs, verbs(settle(t, client, exec))); diff != "" {
		t.Fatalf("API actions (-want +got):\n%s", diff)
	}
	if tc.check != nil {
		tc.check(t, p, patches(client.Actions()))
	}
	if tc.event {
		checkEvent(t, client, p)
	}
}

// TestRollbackWritten: rollbacks that are written, re-checked on a fresh
// read.
func TestRollbackWritten(t *testing.T) {
	happy := happyVerbs()
	for _, tc := range []rollbackCase{{
		name:  "happy path",
		verbs: happy,
		check: func(t *testing.T, p *rollback.Plan, sent []k8stesting.PatchActionImpl) {
			checkPatch(t, sent[0], "100", p, wantAnnotations(p, nil))
		},
		event: true,
	}, {
		name:  "dry run: the real patch, validated only, and no Event",
		plan:  func(p *rollback.Plan) { p.DryRun = true },
		verbs: []string{"get deployments", "get replicasets", "patch deployments"},
		check: func(t *testing.T, p *rollback.Plan, sent []k8stesting.PatchActionImpl) {
			checkPatch(t, sent[0], "100", p, wantAnnotations(p, nil))
		},
	}, {
		name: "metadata changed since the decision: re-checked and written at the new version",
		deployment: func(d *appsv1.Deployment) {
			d.ResourceVersion = "105"
			d.Labels = map[string]string{"touched": "yes"}
		},
		verbs: happy,
		check: func(t *testing.T, p *rollback.Plan, sent []k8stesting.PatchActionImpl) {
			checkPatch(t, sent[0], "105", p, wantAnnotations(p, nil))
		},
		event: true,
	}, {
		name: "conflict on the first patch: re-read, re-checked, patched again",
		react: func(c *fake.Clientset) {
			conflictOnce(c, func(d *appsv1.Deployment) { d.ResourceVersion = "101"; d.Annotations["touched"] = "yes" })
		},
		verbs: []string{"get deployments", "get replicasets", "patch deployments",
			"get deployments", "get replicasets", "patch deployments", "create events"},
		check: func(t *testing.T, p *rollback.Plan, sent []k8stesting.PatchActionImpl) {
			checkPatch(t, sent[0], "100", p, wantAnnotations(p, nil))
			// The person's annotation survives: the second patch is built
			// from the re-read.
			checkPatch(t, sent[1], "101", p, wantAnnotations(p, map[string]string{"touched": "yes"}))
		},
		event: true,
	}, {
		name: "an earlier attempt's write landed and its answer was lost: done, not written again",
		deployment: func(d *appsv1.Deployment) {
			d.ResourceVersion = "101"
			d.Spec.Template = podTemplate("v1")
			d.Annotations[rollback.AnnotationIncident] = plan().Incident
		},
		verbs: []string{"get deployments", "create events"},
		event: true,
	}} {
		t.Run(tc.name, tc.run)
	}
}

// TestRollbackRefused: rollbacks the executor does not write, or the API
// server refuses.
func TestRollbackRefused(t *testing.T) {
	for _, tc := range []rollbackCase{{
		name: "conflict, and the re-read shows a new template: not overwritten",
		react: func(c *fake.Clientset) {
			conflictOnce(c, func(d *appsv1.Deployment) {
				d.ResourceVersion = "101"
				d.Spec.Template = podTemplate("v3-hotfix")
			})
		},
		verbs: []string{"get deployments", "get replicasets", "patch deployments", "get deployments"},
		err:   wantStale(rollback.ReasonChangedSince),
	}, {
		name:     "target ReplicaSet gone",
		noTarget: true,
		verbs:    []string{"get deployments", "get replicasets"},
		err:      wantTargetGone("target ReplicaSet web-v1 no longer exists"),
	}, {
		name: "target ReplicaSet's template changed",
		target: func(rs *appsv1.ReplicaSet) {
			rs.Spec.Template.Spec.Containers[0].Image = "registry.example/web:v1-rebuilt"
		},
		verbs: []string{"get deployments", "get replicasets"},
		err:   wantTargetGone("target ReplicaSet web-v1 no longer has the planned template"),
	}, {
		name: "patch forbidden",
		react: func(c *fake.Clientset) {
			c.PrependReactor("patch", "deployments", func(k8stesting.Action) (bool, runtime.Object, error) {
				return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "apps", Resource: "deployments"}, "web",
					errors.New(`User "system:serviceaccount:sentinel:sentinel" cannot patch resource "deployments" in API group "apps" in the namespace "shop"`))
			})
		},
		verbs: []string{"get deployments", "get replicasets", "patch deployments"},
		err: func(t *testing.T, err error) {
			if !apierrors.IsForbidden(err) || !strings.HasPrefix(err.Error(), "patch deployment shop/web: ") {
				t.Errorf("error %v, want a Forbidden error saying it patched deployment shop/web", err)
			}
		},
	}, {
		// client-go's RetryOnConflict reports an error wrapping a
		// context's end as nil; the executor must not take it for done.
		name: "reading the Deployment times out: reported, to be retried",
		react: func(c *fake.Clientset) {
			c.PrependReactor("get", "deployments", func(k8stesting.Action) (bool, runtime.Object, error) {
				return true, nil, fmt.Errorf("http2: client connection lost: %w", context.DeadlineExceeded)
			})
		},
		verbs: []string{"get deployments"},
		err: func(t *testing.T, err error) {
			var retry *rollback.RetryableError
			if !errors.As(err, &retry) || err.Error() != "get deployment shop/web: http2: client connection lost: context deadline exceeded" {
				t.Errorf("error %v, want a *rollback.RetryableError saying the read of shop/web timed out", err)
			}
		},
	}, {
		name: "opted out since the decision",
		deployment: func(d *appsv1.Deployment) {
			d.ResourceVersion = "101"
			d.Annotations[config.OptOutAnnotation] = "false"
		},
		verbs: []string{"get deployments"},
		err:   wantStale(rollback.ReasonOptedOut),
	}, {
		name: "already rolled back in this incident",
		deployment: func(d *appsv1.Deployment) {
			d.ResourceVersion = "101"
			d.Annotations[rollback.AnnotationIncident] = plan().Incident
		},
		verbs: []string{"get deployments"},
		err:   wantStale(rollback.ReasonIncidentLimit),
	}} {
		t.Run(tc.name, tc.run)
	}
}

// wantTargetGone expects the rollback refused because its target
// ReplicaSet is gone or changed, with detail.
func wantTargetGone(detail string) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		var se *rollback.StaleError
		if !errors.As(err, &se) || se.Reason != rollback.ReasonTargetGone || se.Detail != detail {
			t.Errorf("error %v, want a *rollback.StaleError %s %q", err, rollback.ReasonTargetGone, detail)
		}
	}
}

func wantStale(reason rollback.Reason) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		var stale *rollback.StaleError
		if !errors.As(err, &stale) || stale.Reason != reason {
			t.Errorf("error %v, want a *rollback.StaleError with reason %s", err, reason)
		}
	}
}

// verifyRun runs Verify in the background with a fake clock, and steps
// the clock one VerifyInterval each time Verify waits, calling between
// (when set) before each step, until Verify returns. No test waits in
// real time for the interval or the timeout.
func verifyRun(t *testing.T, client *fake.Clientset, between func(step int)) (waited time.Duration, steps int, err error) {
	t.Helper()
	clk := clocktesting.NewFakeClock(now)
	exec := newExecutor(t, client, clk)
	exec.VerifyInterval = 30 * time.Second
	done := make(chan error, 1)
	go func() { done <- exec.Verify(t.Context(), plan()) }()
	for step := 0; ; {
		select {
		case err := <-done:
			return clk.Since(now), step, err
		default:
		}
		if !clk.HasWaiters() {
			time.Sleep(time.Millisecond) // Verify is reading from the fake API
			continue
		}
		if between != nil {
			between(step)
		}
		step++
		if step > 100 {
			t.Fatal("Verify still waiting after 100 intervals")
		}
		clk.Step(exec.VerifyInterval)
	}
}

// rolledBack is the Deployment after sentinel's patch (generation 3),
// the controller having observed generation observed: once it has seen
// 3, the Deployment is at the revision it gives a rolled-back template, 3.
func rolledBack(observed int64) *appsv1.Deployment {
	d := deployment()
	d.ResourceVersion, d.Generation = "110", 3
	d.Spec.Template = podTemplate("v1")
	d.Status.ObservedGeneration = observed
	if observed >= 3 {
		d.Annotations[history.RevisionAnnotation] = "3"
	}
	return d
}

// TestVerifyCatchesUp: the controller has not observed generation 3 yet,
// then has but has not made revision 3's ReplicaSet, then has.
func TestVerifyCatchesUp(t *testing.T) {
	client := fake.NewClientset(rolledBack(2), replicaSet("web-v2", "2", "v2"))
	waited, steps, err := verifyRun(t, client, func(step int) {
		tr := client.Tracker()
		switch step {
		case 0:
			if err := tr.Update(deploymentsResource, rolledBack(3), ns); err != nil {
				t.Error(err)
			}
		case 1:
			// The controller adopts web-v1's template as revision 3.
			if err := tr.Add(replicaSet("web-v1", "3", "v1")); err != nil {
				t.Error(err)
			}
		}
	})
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if steps != 2 || waited != time.Minute {
		t.Errorf("verified after %d waits (%s), want 2 (1m0s)", steps, waited)
	}
	want := []string{"get deployments", "get deployments", "list replicasets", "get deployments", "list replicasets"}
	if diff := cmp.Diff(want, verbs(client.Actions())); diff != "" {
		t.Errorf("API actions (-want +got):\n%s", diff)
	}
	for _, a := range client.Actions() {
		if l, ok := a.(k8stesting.ListActionImpl); ok && l.ListOptions.LabelSelector != "app=web" {
			t.Errorf("listed replicasets with selector %q, want the Deployment's app=web", l.ListOptions.LabelSelector)
		}
	}
}

func TestVerify(t *testing.T) {
	for _, tc := range []struct {
		name       string
		objs       []runtime.Object
		wantReason string
	}{{
		name:       "never observed",
		objs:       []runtime.Object{rolledBack(2), replicaSet("web-v2", "2", "v2")},
		wantReason: "after 2m0s: the controller has not observed the change",
	}, {
		name:       "the newest ReplicaSet is someone else's template",
		objs:       []runtime.Object{rolledBack(3), replicaSet("web-v2", "2", "v2"), replicaSet("web-v3", "3", "v3-hotfix")},
		wantReason: "after 2m0s: the newest ReplicaSet web-v3 (revision 3) does not carry the target template",
	}, {
		name:       "no ReplicaSet at the new revision",
		objs:       []runtime.Object{rolledBack(3), replicaSet("web-v2", "2", "v2")},
		wantReason: "after 2m0s: no ReplicaSet for revision 3 yet",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			client := fake.NewClientset(tc.objs...)
			waited, _, err := verifyRun(t, client, nil)
			var ue *kube.UnverifiedError
			if !errors.As(err, &ue) || ue.Reason != tc.wantReason {
				t.Fatalf("verify: %v, want a *kube.UnverifiedError %q", err, tc.wantReason)
			}
			// It gives up once VerifyTimeout has passed on its clock.
			if waited != 2*time.Minute {
				t.Errorf("gave up after %s on the fake clock, want the 2m0s VerifyTimeout", waited)
			}
		})
	}

	t.Run("stopped", func(t *testing.T) {
		client := fake.NewClientset(rolledBack(2))
		exec := newExecutor(t, client, clocktesting.NewFakeClock(now))
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		var ue *kube.UnverifiedError
		if err := exec.Verify(ctx, plan()); !errors.As(err, &ue) || !strings.HasPrefix(ue.Reason, "stopped while verifying") {
			t.Errorf("verify: %v, want a *kube.UnverifiedError for the stop", err)
		}
	})

	t.Run("API error", func(t *testing.T) {
		client := fake.NewClientset(rolledBack(3))
		client.PrependReactor("list", "replicasets", func(k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewServiceUnavailable("etcd leader changed")
		})
		if _, _, err := verifyRun(t, client, nil); err == nil || !strings.Contains(err.Error(), "list replicasets in shop") {
			t.Errorf("verify: %v, want an error naming the failed list", err)
		}
	})
}
