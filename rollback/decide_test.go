package rollback

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/history"
	"github.com/sentinel-sre/sentinel/workload"
)

var (
	now  = time.Date(2026, 4, 24, 23, 51, 15, 0, time.UTC)
	me   = workload.Ref{Namespace: "scale-deploy", Name: "model-engine"}
	good = []history.Image{{Container: "app", Image: "model-engine:f395ffa6"}}
	bad  = []history.Image{{Container: "app", Image: "model-engine:04729cef"}}
	mid  = []history.Image{{Container: "app", Image: "model-engine:11111111"}}
)

const incidentID = "scale-deploy/model-engine@2026-04-24T23:50:45Z"

func rev(n int64, imgs []history.Image, healthy bool) history.Revision {
	return history.Revision{Name: "model-engine-" + imgs[0].Image[len(imgs[0].Image)-8:], Revision: n, Images: imgs, Healthy: healthy,
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "model-engine"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: imgs[0].Image}}}}}
}

// input is the MLI-6574 decision: kubectl set image to a bad image after
// a healthy Helm release.
func input() Input {
	return Input{
		Incident: incidentID,
		Workload: me,
		Cause: &history.Change{Workload: me, Revision: 2, Manager: "kubectl-set", ImageChanged: true,
			ImagesBefore: good, ImagesAfter: bad, Fields: []string{"containers[app].image"}, Fingerprint: "fp-bad"},
		Deployment: &history.Deployment{Workload: me, ResourceVersion: "4711", Revision: 2, Images: bad,
			Annotations: map[string]string{}, Fingerprint: "fp-bad"},
		Revisions: []history.Revision{rev(1, good, true)},
	}
}

func TestDecide(t *testing.T) {
	cases := []struct {
		name   string
		cfg    func(*config.Rollback)
		in     func(*Input)
		before func(*Policy) // what sentinel already did
		want   Reason
		target int64
	}{
		{name: "out-of-band image change rolls back to the healthy revision", want: ReasonOutOfBandImage, target: 1},
		{name: "a Helm change pages but never rolls back",
			in: func(in *Input) { in.Cause.Manager = "helm" }, want: ReasonTrustedDeployer},
		{name: "any trusted deployer is respected", cfg: func(c *config.Rollback) { c.TrustedManagers = []string{"helm", "spinnaker"} },
			in: func(in *Input) { in.Cause.Manager = "spinnaker" }, want: ReasonTrustedDeployer},
		{name: "an Argo CD sync pages for a revert in Git", in: func(in *Input) { in.Cause.Manager = "argocd-controller" }, want: ReasonGitOpsManaged},
		{name: "an older Argo CD client-side sync too", in: func(in *Input) { in.Cause.Manager = "argocd-application-controller" }, want: ReasonGitOpsManaged},
		{name: "a Flux Kustomization", in: func(in *Input) { in.Cause.Manager = "kustomize-controller" }, want: ReasonGitOpsManaged},
		{name: "a Flux HelmRelease", in: func(in *Input) { in.Cause.Manager = "helm-controller" }, want: ReasonGitOpsManaged},
		{name: "a GitOps controller taken off the trusted list is rolled back behind",
			cfg: func(c *config.Rollback) { c.TrustedManagers = []string{"helm"} },
			in:  func(in *Input) { in.Cause.Manager = "argocd-controller" }, want: ReasonOutOfBandImage, target: 1},
		{name: "an env-only kubectl change does not roll back",
			in: func(in *Input) { in.Cause.ImageChanged = false; in.Cause.Fields = []string{"containers[app].env"} }, want: ReasonNotImageChange},
		{name: "no linked change", in: func(in *Input) { in.Cause = nil }, want: ReasonNoLinkedChange},
		{name: "an unattributed image change is not rolled back", in: func(in *Input) { in.Cause.Manager = "" }, want: ReasonUnattributed},
		{name: "the Deployment changed since the linked change (a human's undo)",
			in: func(in *Input) { in.Deployment.Fingerprint = "fp-undo"; in.Deployment.Images = good }, want: ReasonChangedSince},
		{name: "sentinel never undoes its own rollback", in: func(in *Input) { in.Cause.Manager = FieldManager }, want: ReasonOwnRollback},
		{name: "unknown deployment", in: func(in *Input) { in.Deployment = nil }, want: ReasonUnknownWorkload},
		{name: "rollback disabled", cfg: func(c *config.Rollback) { c.Enabled = false }, want: ReasonDisabled},
		{name: "namespace opted out in config", cfg: func(c *config.Rollback) { c.OptOut.Namespaces = []string{"scale-deploy"} }, want: ReasonOptedOut},
		{name: "deployment opted out in config", cfg: func(c *config.Rollback) { c.OptOut.Deployments = []string{"scale-deploy/model-engine"} }, want: ReasonOptedOut},
		{name: "another deployment opted out changes nothing", cfg: func(c *config.Rollback) { c.OptOut.Deployments = []string{"scale-deploy/gateway"} },
			want: ReasonOutOfBandImage, target: 1},
		{name: "opt-out annotation", in: func(in *Input) { in.Deployment.Annotations[config.OptOutAnnotation] = "false" }, want: ReasonOptedOut},
		{name: "opt-out annotation spelled False", in: func(in *Input) { in.Deployment.Annotations[config.OptOutAnnotation] = "False" }, want: ReasonOptedOut},
		{name: "opt-out annotation spelled 0", in: func(in *Input) { in.Deployment.Annotations[config.OptOutAnnotation] = "0" }, want: ReasonOptedOut},
		{name: "an unreadable opt-out annotation opts out", in: func(in *Input) { in.Deployment.Annotations[config.OptOutAnnotation] = "no" }, want: ReasonOptedOut},
		{name: "opt-out annotation set to true is no opt-out", in: func(in *Input) { in.Deployment.Annotations[config.OptOutAnnotation] = "true" },
			want: ReasonOutOfBandImage, target: 1},
		{name: "paused deployment", in: func(in *Input) { in.Deployment.Paused = true }, want: ReasonPaused},
		{name: "an unhealthy previous revision is skipped",
			in: func(in *Input) {
				in.Cause.Revision = 3
				in.Deployment.Revision = 3
				in.Revisions = []history.Revision{rev(2, mid, false), rev(1, good, true)}
			}, want: ReasonOutOfBandImage, target: 1},
		{name: "a healthy revision with the same images is skipped",
			in: func(in *Input) {
				in.Revisions = []history.Revision{rev(3, bad, true), rev(1, good, true)}
			}, want: ReasonOutOfBandImage, target: 1},
		{name: "the newest healthy revision wins",
			in: func(in *Input) {
				in.Deployment.Revision = 3
				in.Revisions = []history.Revision{rev(2, mid, true), rev(1, good, true)}
			}, want: ReasonOutOfBandImage, target: 2},
		{name: "no healthy target", in: func(in *Input) { in.Revisions = []history.Revision{rev(1, good, false)} }, want: ReasonNoHealthyTarget},
		{name: "no earlier revision at all", in: func(in *Input) { in.Revisions = nil }, want: ReasonNoHealthyTarget},
		{name: "cooldown after a rollback 10m ago in another incident",
			before: func(p *Policy) { p.Done(now.Add(-10*time.Minute), &Plan{Workload: me, Incident: "other"}) }, want: ReasonCooldown},
		{name: "cooldown over after 30m",
			before: func(p *Policy) { p.Done(now.Add(-30*time.Minute), &Plan{Workload: me, Incident: "other"}) }, want: ReasonOutOfBandImage, target: 1},
		{name: "cooldown of another deployment does not apply",
			before: func(p *Policy) {
				p.Done(now.Add(-time.Minute), &Plan{Workload: workload.Ref{Namespace: "scale-deploy", Name: "gateway"}, Incident: "x"})
			}, want: ReasonOutOfBandImage, target: 1},
		{name: "cooldown from the annotation survives a restart",
			in: func(in *Input) {
				in.Deployment.Annotations[AnnotationRolledBackAt] = now.Add(-5 * time.Minute).Format(time.RFC3339)
				in.Deployment.Annotations[AnnotationIncident] = "earlier"
			}, want: ReasonCooldown},
		{name: "one rollback per incident",
			cfg:    func(c *config.Rollback) { c.Cooldown = 0 },
			before: func(p *Policy) { p.Done(now.Add(-time.Minute), &Plan{Workload: me, Incident: incidentID}) }, want: ReasonIncidentLimit},
		{name: "one rollback per incident, known from the annotation after a restart",
			cfg: func(c *config.Rollback) { c.Cooldown = 0 },
			in:  func(in *Input) { in.Deployment.Annotations[AnnotationIncident] = incidentID }, want: ReasonIncidentLimit},
		{name: "rolled back in this incident by a leader that died before telling: said so, not blamed on a person",
			in: func(in *Input) {
				in.Deployment.Fingerprint = "fp-rolled-back"
				in.Deployment.Images = good
				in.Deployment.Annotations[AnnotationIncident] = incidentID
				in.Deployment.Annotations[AnnotationRolledBackAt] = now.Add(-10 * time.Second).Format(time.RFC3339)
			}, want: ReasonIncidentLimit},
		{name: "max_per_incident 0 pages only, and says so", cfg: func(c *config.Rollback) { c.MaxPerIncident = 0 }, want: ReasonPageOnly},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default().Rollback
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			in := input()
			if tc.in != nil {
				tc.in(&in)
			}
			p := NewPolicy(cfg)
			if tc.before != nil {
				tc.before(p)
			}
			d := p.Decide(now, in)
			if d.Reason != tc.want {
				t.Fatalf("reason %q, want %q", d.Reason, tc.want)
			}
			if d.Rollback() != (tc.target != 0) {
				t.Fatalf("rollback %v plan %v, want target %d", d.Rollback(), d.Plan, tc.target)
			}
			if d.Plan != nil && d.Plan.ToRevision != tc.target {
				t.Errorf("target revision %d, want %d", d.Plan.ToRevision, tc.target)
			}
		})
	}
}

func TestPlanMirrorsRolloutUndo(t *testing.T) {
	cfg := config.Default().Rollback
	cfg.DryRun = true
	d := NewPolicy(cfg).Decide(now, input())
	p := d.Plan
	if p == nil {
		t.Fatalf("no plan: %s", d.Reason)
	}
	type planView struct {
		ResourceVersion          string
		FromRevision, ToRevision int64
		Incident                 string
		DryRun                   bool
	}
	want := planView{ResourceVersion: "4711", FromRevision: 2, ToRevision: 1, Incident: incidentID, DryRun: true}
	if diff := cmp.Diff(want, planView{p.ResourceVersion, p.FromRevision, p.ToRevision, p.Incident, p.DryRun}); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	if got := p.Template.Spec.Containers[0].Image; got != "model-engine:f395ffa6" {
		t.Errorf("template image %q", got)
	}
	if history.SameImages(p.ToImages, p.FromImages) {
		t.Error("target has the failing images")
	}
	// The plan owns its template: changing it leaves the history alone.
	in := input()
	p2 := NewPolicy(config.Default().Rollback).Decide(now, in).Plan
	p2.Template.Spec.Containers[0].Image = "changed"
	if in.Revisions[0].Template.Spec.Containers[0].Image != "model-engine:f395ffa6" {
		t.Error("plan template aliases the revision's")
	}
}

// A page names the controller and where the fix belongs.
func TestDecisionExplain(t *testing.T) {
	cases := []struct {
		manager string
		want    string
	}{
		{manager: "argocd-controller", want: "managed by argocd-controller: revert it in Git"},
		{manager: "kustomize-controller", want: "managed by kustomize-controller: revert it in Git"},
		{manager: "helm-controller", want: "managed by helm-controller: revert it in Git"},
		{manager: "helm", want: ReasonTrustedDeployer.Explain()},
		{manager: "kubectl-set", want: ""},
	}
	for _, tc := range cases {
		t.Run(tc.manager, func(t *testing.T) {
			in := input()
			in.Cause.Manager = tc.manager
			d := NewPolicy(config.Default().Rollback).Decide(now, in)
			got := ""
			if !d.Rollback() {
				got = d.Explain()
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("explanation (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEveryReasonIsExplained(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range Reasons() {
		e := r.Explain()
		if e == string(r) || e == "" || seen[e] {
			t.Errorf("reason %q has no explanation of its own: %q", r, e)
		}
		seen[e] = true
	}
}
