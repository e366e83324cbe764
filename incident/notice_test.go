package incident

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sentinel-sre/sentinel/history"
)

func TestBreakGlassNotice(t *testing.T) {
	patch := history.Change{Workload: me, Manager: "kubectl-patch", ImageChanged: true, ImagesBefore: good, ImagesAfter: bad}
	unknown := patch
	unknown.Manager = ""
	tests := []struct {
		name   string
		c      history.Change
		by     string
		reason string
		want   string
	}{
		{"a named user", patch, "alice", "INC-42 hotfix",
			"break glass: image changed to model-engine:04729cef… past the admission guard by kubectl-patch (user alice): INC-42 hotfix"},
		{"no user named, no manager known", unknown, "", "INC-42",
			"break glass: image changed to model-engine:04729cef… past the admission guard by an unknown manager (user unnamed): INC-42"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := BreakGlassNotice(onset, tt.c, tt.reason, tt.by)
			if a.Kind != BreakGlass || a.Workload != me || !a.At.Equal(onset) || a.Cause == nil || a.Cause.Manager != tt.c.Manager {
				t.Errorf("notice %+v: want a break-glass notice of %s at %s with the change as its cause", a, me, onset)
			}
			if diff := cmp.Diff(tt.want, a.Message); diff != "" {
				t.Errorf("message (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(me.String()+": "+tt.want, a.Summary()); diff != "" {
				t.Errorf("summary (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRevertedMessage(t *testing.T) {
	rolledBack := onset.Add(time.Minute)
	for _, tt := range []struct{ manager, want string }{
		{"kubectl-set", "kubectl-set changed the image to model-engine:04729cef… after sentinel's rollback at 23:51:20; not rolling back again"},
		{"argocd-controller", "argocd-controller changed the image to model-engine:04729cef… after sentinel's rollback at 23:51:20; not rolling back again: managed by argocd-controller: revert it in Git"},
		{"", "an unknown manager changed the image to model-engine:04729cef… after sentinel's rollback at 23:51:20; not rolling back again"},
	} {
		c := history.Change{Workload: me, Manager: tt.manager, ImageChanged: true, ImagesBefore: good, ImagesAfter: bad}
		if got := RevertedMessage(c, rolledBack); got != tt.want {
			t.Errorf("manager %q:\n got %s\nwant %s", tt.manager, got, tt.want)
		}
	}
}
