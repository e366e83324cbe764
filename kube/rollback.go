package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/clock"

	"github.com/sentinel-sre/sentinel/history"
	"github.com/sentinel-sre/sentinel/rollback"
)

// UnverifiedError says the rollback was written but the Deployment did
// not roll out the target template in time.
type UnverifiedError struct{ Reason string }

func (e *UnverifiedError) Error() string { return "rollback written but not verified: " + e.Reason }

// Executor carries out rollback plans on the live cluster.
type Executor struct {
	client kubernetes.Interface
	clock  clock.Clock
	log    *zap.Logger
	// VerifyTimeout bounds the wait for the controller to roll out the
	// target; VerifyInterval is how often it looks.
	VerifyTimeout, VerifyInterval time.Duration
	// Events records each rollback's Event. When nil, the first rollback
	// starts a recorder writing through the client (NewEventRecorder),
	// which Close stops.
	Events     record.EventRecorder
	eventsOnce sync.Once
	stopEvents func()
}

// EventReason is the reason of the Event recorded on a rolled-back
// Deployment.
const EventReason = "SentinelRollback"

// NewEventRecorder returns a recorder of Events from sentinel, written
// through client by a client-go event broadcaster (as sample-controller
// does), and the function that stops the broadcaster.
func NewEventRecorder(client kubernetes.Interface) (record.EventRecorder, func()) {
	b := record.NewBroadcaster()
	b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	return b.NewRecorder(scheme.Scheme, corev1.EventSource{Component: rollback.FieldManager}), b.Shutdown
}

// Close stops the Event recorder NewExecutor's executor started, if any.
// Events not yet written are lost.
func (e *Executor) Close() {
	e.eventsOnce.Do(func() {}) // no recorder starts after Close
	if e.stopEvents != nil {
		e.stopEvents()
	}
}

// NewExecutor returns an executor writing through client.
func NewExecutor(client kubernetes.Interface, clk clock.Clock, log *zap.Logger, verifyTimeout time.Duration) *Executor {
	return &Executor{client: client, clock: clk, log: log, VerifyTimeout: verifyTimeout, VerifyInterval: time.Second}
}

// Rollback writes the plan's template into the Deployment as field manager
// sentinel, after re-deciding on a fresh read, conditioned on the
// resourceVersion it re-decided on. On a conflict it re-reads and
// re-decides, so a newer human change is never overwritten. It records
// annotations and an Event (not in dry-run, where the patch is only
// validated by the server). Verify confirms the rollout.
func (e *Executor) Rollback(ctx context.Context, plan *rollback.Plan) (err error) {
	defer func() { err = retryable(err) }()
	var patched *appsv1.Deployment
	// A conflict (the Deployment changed between our read and our write)
	// re-reads and re-decides. The error is the last write's own, not
	// RetryOnConflict's: that one reports an error wrapping a context's
	// end as nil (wait.Interrupted).
	_ = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		patched, err = e.write(ctx, plan)
		return err
	})
	if err != nil {
		return err
	}
	if plan.DryRun {
		e.log.Info("dry-run rollback validated by the API server", zap.String("workload", plan.Workload.String()),
			zap.Int64("to_revision", plan.ToRevision))
		return nil
	}
	e.log.Info("rolled back", zap.String("workload", plan.Workload.String()), zap.String("incident", plan.Incident),
		zap.Int64("from_revision", plan.FromRevision), zap.Int64("to_revision", plan.ToRevision))
	// Recorded in the background: a missing Event must not undo the
	// rollback.
	e.event(patched, plan)
	return nil
}

// write reads the Deployment, re-checks the plan on it and patches it;
// it returns the Deployment as written.
func (e *Executor) write(ctx context.Context, plan *rollback.Plan) (*appsv1.Deployment, error) {
	ns, name := plan.Workload.Namespace, plan.Workload.Name
	deps := e.client.AppsV1().Deployments(ns)
	d, err := deps.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("get deployment %s/%s: %w", ns, name, err)
	}
	if landed(d, plan) {
		// An earlier attempt's write landed and its answer was lost (a
		// timeout, a dropped connection): done.
		e.log.Info("an earlier attempt's rollback landed", zap.String("workload", plan.Workload.String()),
			zap.String("incident", plan.Incident))
		return d, nil
	}
	if err := e.check(ctx, d, plan); err != nil {
		return nil, err
	}
	patch, err := rollbackPatch(d, plan, e.clock.Now())
	if err != nil {
		return nil, err
	}
	opts := metav1.PatchOptions{FieldManager: rollback.FieldManager}
	if plan.DryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	// A conflict stays visible through the wrapping, for RetryOnConflict.
	patched, err := deps.Patch(ctx, name, types.JSONPatchType, patch, opts)
	if err != nil {
		return nil, fmt.Errorf("patch deployment %s/%s: %w", ns, name, err)
	}
	return patched, nil
}

// landed reports whether d already holds the plan's rollback: this
// incident's annotation and the target template.
func landed(d *appsv1.Deployment, plan *rollback.Plan) bool {
	return !plan.DryRun && d.Annotations[rollback.AnnotationIncident] == plan.Incident &&
		history.Fingerprint(&d.Spec.Template) == history.Fingerprint(&plan.Template)
}

// check re-decides on a fresh read of the Deployment: unchanged since the
// decision (same resourceVersion), the plan holds as decided; otherwise
// everything that can have changed is checked again. The target
// ReplicaSet is checked either way.
func (e *Executor) check(ctx context.Context, d *appsv1.Deployment, plan *rollback.Plan) error {
	if d.ResourceVersion != plan.ResourceVersion {
		e.log.Info("deployment changed since the decision: re-checking", zap.String("workload", plan.Workload.String()),
			zap.String("decided_at_version", plan.ResourceVersion), zap.String("now_at_version", d.ResourceVersion))
	}
	if err := plan.Recheck(e.clock.Now(), d.Annotations, d.Spec.Paused, history.Fingerprint(&d.Spec.Template)); err != nil {
		return err
	}
	rs, err := e.client.AppsV1().ReplicaSets(d.Namespace).Get(ctx, plan.ReplicaSet, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return &rollback.StaleError{Reason: rollback.ReasonTargetGone, Detail: "target ReplicaSet " + plan.ReplicaSet + " no longer exists"}
	}
	if err != nil {
		return fmt.Errorf("get replicaset %s/%s: %w", d.Namespace, plan.ReplicaSet, err)
	}
	if history.Fingerprint(&rs.Spec.Template) != history.Fingerprint(&plan.Template) {
		return &rollback.StaleError{Reason: rollback.ReasonTargetGone, Detail: "target ReplicaSet " + plan.ReplicaSet + " no longer has the planned template"}
	}
	return nil
}

// rollbackPatch is `kubectl rollout undo`'s JSON patch (replace the
// template, replace the annotations) that also sets the resourceVersion
// that was checked: the API server then applies it only to that version
// and answers 409 Conflict otherwise.
func rollbackPatch(d *appsv1.Deployment, plan *rollback.Plan, now time.Time) ([]byte, error) {
	ann := make(map[string]string, len(d.Annotations)+5)
	for k, v := range d.Annotations {
		ann[k] = v
	}
	ann[rollback.AnnotationIncident] = plan.Incident
	ann[rollback.AnnotationRolledBackAt] = now.UTC().Format(time.RFC3339)
	ann[rollback.AnnotationFrom] = strconv.FormatInt(plan.FromRevision, 10)
	ann[rollback.AnnotationTo] = strconv.FormatInt(plan.ToRevision, 10)
	ann[rollback.AnnotationReason] = string(plan.Reason)
	b, err := json.Marshal([]map[string]any{
		{"op": "replace", "path": "/metadata/resourceVersion", "value": d.ResourceVersion},
		{"op": "replace", "path": "/spec/template", "value": plan.Template},
		{"op": "replace", "path": "/metadata/annotations", "value": ann},
	})
	if err != nil {
		return nil, fmt.Errorf("encode rollback patch: %w", err)
	}
	return b, nil
}

// event records the rollback as a Warning Event on the Deployment.
func (e *Executor) event(d *appsv1.Deployment, plan *rollback.Plan) {
	e.eventsOnce.Do(func() {
		if e.Events == nil {
			e.Events, e.stopEvents = NewEventRecorder(e.client)
		}
	})
	e.Events.Eventf(d, corev1.EventTypeWarning, EventReason,
		"sentinel rolled back from revision %d to revision %d (%s) in incident %s: %s",
		plan.FromRevision, plan.ToRevision, strings.Join(history.Names(plan.ToImages), ", "), plan.Incident, plan.Reason.Explain())
}

// Verify waits until the Deployment controller has observed the rollback
// and its newest ReplicaSet carries the target template; the engine runs
// it in the background after Rollback and reports a failure.
func (e *Executor) Verify(ctx context.Context, plan *rollback.Plan) error {
	want := history.Fingerprint(&plan.Template)
	deadline := e.clock.Now().Add(e.VerifyTimeout)
	last := "the controller has not observed the change"
	for {
		ok, why, err := e.rolledOut(ctx, plan, want)
		if err != nil {
			why = err.Error() // a failed read is retried like any other wait
		}
		if ok {
			return nil
		}
		last = why
		if !e.clock.Now().Before(deadline) {
			return &UnverifiedError{Reason: fmt.Sprintf("after %s: %s", e.VerifyTimeout, last)}
		}
		select {
		case <-ctx.Done():
			return &UnverifiedError{Reason: "stopped while verifying: " + last}
		case <-e.clock.After(e.VerifyInterval):
		}
	}
}

func (e *Executor) rolledOut(ctx context.Context, plan *rollback.Plan, want string) (bool, string, error) {
	ns, name := plan.Workload.Namespace, plan.Workload.Name
	d, err := e.client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return false, "", fmt.Errorf("verify rollback: get deployment %s/%s: %w", ns, name, err)
	}
	if d.Status.ObservedGeneration < d.Generation {
		return false, "the controller has not observed the change", nil
	}
	rev := d.Annotations[history.RevisionAnnotation]
	rss, err := e.client.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{
		LabelSelector: metav1.FormatLabelSelector(d.Spec.Selector)})
	if err != nil {
		return false, "", fmt.Errorf("verify rollback: list replicasets in %s: %w", ns, err)
	}
	for i := range rss.Items {
		rs := &rss.Items[i]
		if !metav1.IsControlledBy(rs, d) || rs.Annotations[history.RevisionAnnotation] != rev {
			continue
		}
		if history.Fingerprint(&rs.Spec.Template) == want {
			return true, "", nil
		}
		return false, fmt.Sprintf("the newest ReplicaSet %s (revision %s) does not carry the target template", rs.Name, rev), nil
	}
	return false, "no ReplicaSet for revision " + rev + " yet", nil
}
