// Package rollback decides whether sentinel rolls a failing Deployment
// back, and to what. The decision is a pure function of the incident, the
// change linked to it, the Deployment, its revisions and what sentinel has
// already done; the plan it returns mirrors `kubectl rollout undo`.
package rollback

import (
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/history"
	"github.com/sentinel-sre/sentinel/workload"
)

// FieldManager is the field manager sentinel writes as, so attribution can
// always tell its own rollbacks apart.
const FieldManager = "sentinel"

// Annotations sentinel leaves on a Deployment it rolled back; they make
// the cooldown and the one-per-incident limit hold across restarts and
// replicas.
const (
	AnnotationIncident     = "sentinel.dev/incident"
	AnnotationRolledBackAt = "sentinel.dev/rolled-back-at"
	AnnotationFrom         = "sentinel.dev/from-revision"
	AnnotationTo           = "sentinel.dev/to-revision"
	AnnotationReason       = "sentinel.dev/reason"
)

// Reason says why a rollback was or was not done. A closed set, used as
// a metric label.
type Reason string

const (
	ReasonOutOfBandImage  Reason = "out_of_band_image_change"
	ReasonNoLinkedChange  Reason = "no_linked_change"
	ReasonNotImageChange  Reason = "not_an_image_change"
	ReasonTrustedDeployer Reason = "trusted_deployer"
	// ReasonGitOpsManaged: a trusted GitOps controller made the change; a
	// rollback would be synced straight back, so the fix is a revert in Git.
	ReasonGitOpsManaged   Reason = "gitops_managed"
	ReasonOwnRollback     Reason = "own_rollback"
	ReasonDisabled        Reason = "disabled"
	ReasonOptedOut        Reason = "opted_out"
	ReasonCooldown        Reason = "cooldown"
	ReasonIncidentLimit   Reason = "incident_limit"
	ReasonPaused          Reason = "paused"
	ReasonNoHealthyTarget Reason = "no_healthy_target"
	ReasonUnknownWorkload Reason = "deployment_unknown"
	ReasonUnattributed    Reason = "unattributed_change"
	ReasonChangedSince    Reason = "changed_since_cause"
	ReasonPageOnly        Reason = "page_only"
	// ReasonNoLease: the replica that paged does not hold the Lease (the
	// API server or the Lease cannot be reached); the replica that leads
	// decides again.
	ReasonNoLease Reason = "no_lease"
	// ReasonTargetGone: the target ReplicaSet was deleted or changed since
	// the decision (found by the executor just before writing).
	ReasonTargetGone Reason = "target_gone"
)

// optedOut reads the opt-out annotation; an unreadable value opts out
// (the engine logs it, see config.OptedOut).
func optedOut(annotations map[string]string) bool {
	out, _ := config.OptedOut(annotations)
	return out
}

// Reasons lists every reason, so metrics can be pre-created.
func Reasons() []Reason {
	return []Reason{ReasonOutOfBandImage, ReasonNoLinkedChange, ReasonNotImageChange,
		ReasonTrustedDeployer, ReasonOwnRollback, ReasonDisabled, ReasonOptedOut, ReasonCooldown,
		ReasonIncidentLimit, ReasonPaused, ReasonNoHealthyTarget, ReasonUnknownWorkload,
		ReasonUnattributed, ReasonChangedSince, ReasonPageOnly, ReasonTargetGone, ReasonGitOpsManaged, ReasonNoLease}
}

// Explain is a short human phrase for a reason, for pages and logs.
func (r Reason) Explain() string {
	switch r {
	case ReasonOutOfBandImage:
		return "the failure follows an image change made outside the trusted deployers"
	case ReasonNoLinkedChange:
		return "no change in the link window is to blame"
	case ReasonNotImageChange:
		return "the linked change did not change an image"
	case ReasonTrustedDeployer:
		return "the change was made by a trusted deployer; its release process owns the fix"
	case ReasonGitOpsManaged:
		return "managed by a GitOps controller: revert it in Git"
	case ReasonOwnRollback:
		return "the change was sentinel's own rollback"
	case ReasonDisabled:
		return "automatic rollback is disabled"
	case ReasonOptedOut:
		return "the Deployment is opted out of automatic rollback"
	case ReasonCooldown:
		return "sentinel rolled this Deployment back within the cooldown"
	case ReasonIncidentLimit:
		return "sentinel already rolled back in this incident"
	case ReasonPaused:
		return "the Deployment is paused"
	case ReasonNoHealthyTarget:
		return "no earlier revision with other images was seen healthy"
	case ReasonUnknownWorkload:
		return "no Deployment of this name is watched"
	case ReasonUnattributed:
		return "who made the change cannot be told from managedFields, so it may have been a trusted deployer"
	case ReasonChangedSince:
		return "the Deployment was changed again since the linked change; a person may be fixing it"
	case ReasonPageOnly:
		return "rollback.max_per_incident is 0: sentinel pages only"
	case ReasonTargetGone:
		return "the target revision's ReplicaSet is gone or changed since the decision"
	case ReasonNoLease:
		return "paged by a replica without the leader Lease (the API server or the Lease is unreachable); the rollback is decided again by the replica that leads"
	}
	return string(r)
}

// GitOpsController names the product behind a GitOps controller's field
// manager ("Argo CD", "Flux"), and reports whether the manager is one. A
// controller syncs the cluster back to Git: rolling back behind it is
// undone at its next sync (or fought, with self-heal on). The names are
// the ones the controllers write as:
//   - argocd-controller: Argo CD's field manager (common.ArgoCDSSAManager),
//     for server-side apply syncs and, in newer releases, client-side ones.
//   - argocd-application-controller: older Argo CD client-side applies
//     name no field manager, so the API server takes the controller's user
//     agent, argocd-application-controller/<version>.
//   - kustomize-controller: Flux's Kustomization applier (server-side
//     apply, manager set to the controller's name).
//   - helm-controller: Flux's HelmRelease reconciler (it sets Helm's
//     kube.ManagedFieldsManager to its name).
//
// helm itself is not here: a `helm upgrade` is a person's release, undone
// with `helm rollback`, not a Git revert.
func GitOpsController(manager string) (product string, ok bool) {
	switch manager {
	case "argocd-controller", "argocd-application-controller":
		return "Argo CD", true
	case "kustomize-controller", "helm-controller":
		return "Flux", true
	}
	return "", false
}

// Plan is a rollback to carry out.
type Plan struct {
	Workload workload.Ref
	Incident string
	// ResourceVersion is the Deployment's version the decision was made
	// from; the write is conditioned on it.
	ResourceVersion string
	FromRevision    int64
	ToRevision      int64
	FromImages      []history.Image
	ToImages        []history.Image
	// FromFingerprint is the failing template's; a Deployment whose
	// template no longer has it was changed since, and is left alone.
	FromFingerprint string
	// ReplicaSet is the target's name; Template is its pod template without
	// the pod-template-hash label.
	ReplicaSet string
	Template   corev1.PodTemplateSpec
	DryRun     bool
	Reason     Reason
	// Cooldown is the configured cooldown, for Recheck.
	Cooldown time.Duration
}

// Recheck re-decides a plan against a fresh read of its Deployment, just
// before writing: everything that can have changed on the Deployment
// since the decision (another replica's rollback, an opt-out annotation,
// a pause, a newer template) is checked again. It returns nil when the
// plan still holds.
func (p *Plan) Recheck(now time.Time, annotations map[string]string, paused bool, fingerprint string) error {
	st := deploymentState{incident: p.Incident, incidentDone: annotations[AnnotationIncident] == p.Incident,
		annotations: annotations, paused: paused, fingerprint: fingerprint, fromFingerprint: p.FromFingerprint,
		cooldown: p.Cooldown}
	if t, err := time.Parse(time.RFC3339, annotations[AnnotationRolledBackAt]); err == nil {
		st.lastRollback = t
	}
	if err := st.refused(now); err != nil {
		return err
	}
	return nil
}

// deploymentState is what the rules on a Deployment's own state read:
// Decide fills it from what it knows (the watched object and its own
// memory), Recheck from a fresh read just before writing. Both apply the
// same rules (refused), so the two cannot drift apart.
type deploymentState struct {
	incident     string
	incidentDone bool // a rollback was already done in this incident
	annotations  map[string]string
	paused       bool
	// fingerprint is the Deployment's template now; fromFingerprint the
	// one the failing change made.
	fingerprint, fromFingerprint string
	lastRollback                 time.Time
	cooldown                     time.Duration
}

// refused applies the rules on the Deployment's own state, in order.
func (s deploymentState) refused(now time.Time) *StaleError {
	switch {
	case s.incidentDone:
		// First: this incident's rollback changed the template too, and a
		// leader that took over from one which died before telling must
		// say it was done, not blame a person's change.
		return &StaleError{Reason: ReasonIncidentLimit, Detail: "already rolled back in incident " + s.incident}
	case s.fromFingerprint != "" && s.fingerprint != s.fromFingerprint:
		// Decide against what the change made, never against a newer
		// template (a human's fix, another rollout).
		return &StaleError{Reason: ReasonChangedSince, Detail: "the Deployment's template changed since the failing change; not overwriting a newer change"}
	case optedOut(s.annotations):
		return &StaleError{Reason: ReasonOptedOut, Detail: "the Deployment is opted out by its " + config.OptOutAnnotation + " annotation"}
	case !s.lastRollback.IsZero() && now.Sub(s.lastRollback) < s.cooldown:
		return &StaleError{Reason: ReasonCooldown, Detail: "rolled back at " + s.lastRollback.UTC().Format(time.RFC3339) + ", within the cooldown"}
	case s.paused:
		return &StaleError{Reason: ReasonPaused, Detail: "the Deployment is paused"}
	}
	return nil
}

// RetryableError wraps an executor error that may pass if the rollback is
// tried again: a timeout, a lost connection, a 5xx or 429 from the API
// server. Anything else is final.
type RetryableError struct{ Err error }

func (e *RetryableError) Error() string { return e.Err.Error() }
func (e *RetryableError) Unwrap() error { return e.Err }

// StaleError says a plan no longer holds — the Deployment or the target
// is no longer what the decision saw — so the rollback is not written: a
// refusal, not a failure. Recheck and the executor both return it.
type StaleError struct {
	Reason Reason
	Detail string
}

func (e *StaleError) Error() string { return "rollback not written: " + e.Detail }

// Decision is the outcome: a plan, or the reason there is none.
type Decision struct {
	Reason Reason
	// Plan is the rollback decided; nil when there is none.
	Plan *Plan
	// Manager made the linked change; set when the reason names it
	// (ReasonGitOpsManaged).
	Manager string
}

// Rollback reports whether a rollback was decided.
func (d Decision) Rollback() bool { return d.Plan != nil }

// Explain is the reason's phrase with the decision's particulars, for
// pages: a GitOps-managed change names its controller.
func (d Decision) Explain() string {
	if d.Reason == ReasonGitOpsManaged && d.Manager != "" {
		return "managed by " + d.Manager + ": revert it in Git"
	}
	return d.Reason.Explain()
}

// Input is everything a decision is made from.
type Input struct {
	Incident   string
	Workload   workload.Ref
	Cause      *history.Change // nil: no linked change
	Deployment *history.Deployment
	Revisions  []history.Revision // older revisions, newest first
}

// Policy applies the rollback configuration and remembers what it did, so
// the cooldown and the per-incident limit hold.
type Policy struct {
	cfg  config.Rollback
	done map[workload.Ref]record
}

type record struct {
	at       time.Time
	incident string
	count    int
}

// NewPolicy returns a policy for cfg.
func NewPolicy(cfg config.Rollback) *Policy {
	return &Policy{cfg: cfg, done: map[workload.Ref]record{}}
}

// Decide decides at now. It does not record anything; call Done once a
// rollback is carried out.
func (p *Policy) Decide(now time.Time, in Input) Decision {
	refuse := func(r Reason) Decision { return Decision{Reason: r} }
	c := in.Cause
	switch {
	case in.Deployment == nil:
		return refuse(ReasonUnknownWorkload)
	case c == nil:
		return refuse(ReasonNoLinkedChange)
	case c.Manager == FieldManager:
		return refuse(ReasonOwnRollback)
	case !c.ImageChanged:
		return refuse(ReasonNotImageChange)
	case c.Manager == "":
		return refuse(ReasonUnattributed)
	case p.cfg.Trusted(c.Manager):
		if _, ok := GitOpsController(c.Manager); ok {
			return Decision{Reason: ReasonGitOpsManaged, Manager: c.Manager}
		}
		return refuse(ReasonTrustedDeployer)
	case !p.cfg.Enabled:
		return refuse(ReasonDisabled)
	case p.cfg.OptedOut(in.Workload.Namespace, in.Workload.Name):
		return refuse(ReasonOptedOut)
	case p.cfg.MaxPerIncident == 0:
		return refuse(ReasonPageOnly)
	}
	st := deploymentState{incident: in.Incident, annotations: in.Deployment.Annotations, paused: in.Deployment.Paused,
		fingerprint: in.Deployment.Fingerprint, fromFingerprint: c.Fingerprint, cooldown: p.cfg.Cooldown,
		incidentDone: p.rollbacksIn(in.Incident, in.Deployment) >= p.cfg.MaxPerIncident,
		lastRollback: p.lastRollback(in.Workload, in.Deployment)}
	if err := st.refused(now); err != nil {
		return refuse(err.Reason)
	}
	for _, r := range in.Revisions {
		if !r.Healthy || history.SameImages(r.Images, in.Deployment.Images) {
			continue
		}
		return Decision{Reason: ReasonOutOfBandImage, Plan: &Plan{
			Workload:        in.Workload,
			Incident:        in.Incident,
			ResourceVersion: in.Deployment.ResourceVersion,
			FromRevision:    in.Deployment.Revision,
			ToRevision:      r.Revision,
			FromImages:      in.Deployment.Images,
			FromFingerprint: in.Deployment.Fingerprint, // equal to the cause's, checked above
			ToImages:        r.Images,
			ReplicaSet:      r.Name,
			Template:        *r.Template.DeepCopy(),
			DryRun:          p.cfg.DryRun,
			Reason:          ReasonOutOfBandImage,
			Cooldown:        p.cfg.Cooldown,
		}}
	}
	return refuse(ReasonNoHealthyTarget)
}

// Forget drops what the policy remembers of a workload (its Deployment
// is gone).
func (p *Policy) Forget(w workload.Ref) { delete(p.done, w) }

// Done records a rollback carried out at now, and forgets rollbacks too
// old to matter (past the cooldown, their incidents long over).
func (p *Policy) Done(now time.Time, plan *Plan) {
	for w, r := range p.done {
		if now.Sub(r.at) > p.cfg.Cooldown+24*time.Hour {
			delete(p.done, w)
		}
	}
	r := p.done[plan.Workload]
	if r.incident != plan.Incident {
		r.count = 0
	}
	p.done[plan.Workload] = record{at: now, incident: plan.Incident, count: r.count + 1}
}

// rollbacksIn counts rollbacks already done in an incident, from memory
// and from the Deployment's annotation (which survives restarts and is
// shared by replicas).
func (p *Policy) rollbacksIn(incident string, d *history.Deployment) int {
	n := 0
	if r, ok := p.done[d.Workload]; ok && r.incident == incident {
		n = r.count
	}
	if n == 0 && d.Annotations[AnnotationIncident] == incident {
		n = 1
	}
	return n
}

func (p *Policy) lastRollback(w workload.Ref, d *history.Deployment) time.Time {
	last := p.done[w].at
	if s := d.Annotations[AnnotationRolledBackAt]; s != "" {
		if t, err := time.Parse(time.RFC3339, s); err == nil && t.After(last) {
			last = t
		}
	}
	return last
}
