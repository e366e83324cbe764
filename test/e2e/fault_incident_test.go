package e2e

// Faults of an incident's life: the replica that paged dies, a replica
// starts in the middle of it, its Deployment is deleted or scaled to
// zero, sentinel restarts just before a bad change. Whatever happens, the
// incident keeps one PagerDuty alert, that alert is resolved, and a
// resolve for a reason other than the errors ending says why.

import (
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// A page-only incident (a Helm upgrade to a failing image: Helm is
// trusted, so sentinel pages without rolling back) outlives the replica
// that paged it. The replica that carries on started during the
// incident; it rebuilds the incident from the metrics history and so
// continues its alert, and resolves it when the failure ends.
func TestFaultLateReplica(t *testing.T) {
	t.Run("leader killed then a replica started", func(t *testing.T) {
		r := newRig(t, "fault-late-kill", "demo")
		a := r.start(t, "sentinel-a", r.config())
		eventually(t, 30*time.Second, "sentinel-a leading", func() bool { return r.holder(t) == "sentinel-a" })
		key := r.pageOnly(t, "demo")
		if err := a.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-a.done
		a.done <- nil // for the cleanup
		gone := len(r.pd.Events())
		killed := time.Now()
		r.start(t, "sentinel-b", r.config())
		t.Logf("sentinel-b ready %s after sentinel-a was killed", time.Since(killed).Round(100*time.Millisecond))
		r.endFailure(t, "demo", key, gone)
	})
	// The incident began before the history the new replica replays
	// (run.warm_up): it still continues the alert, not a second one
	// with the first instant it replayed as its onset.
	t.Run("incident older than the warm-up", func(t *testing.T) {
		r := newRig(t, "fault-late-old", "demo")
		cfg := r.config()
		cfg.Run.WarmUp = 5 * time.Second
		a := r.start(t, "sentinel-a", cfg)
		eventually(t, 30*time.Second, "sentinel-a leading", func() bool { return r.holder(t) == "sentinel-a" })
		key := r.pageOnly(t, "demo")
		a.waitPolls(t, int(2*cfg.Run.WarmUp/cfg.Detection.PollInterval))
		if err := a.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-a.done
		a.done <- nil // for the cleanup
		gone := len(r.pd.Events())
		r.start(t, "sentinel-b", cfg)
		r.endFailure(t, "demo", key, gone)
	})
	// sentinel's own rollout: the new replica starts while the old one
	// leads, and takes over once the old one stops.
	t.Run("rollout of sentinel", func(t *testing.T) {
		r := newRig(t, "fault-late-roll", "demo")
		a := r.start(t, "sentinel-a", r.config())
		eventually(t, 30*time.Second, "sentinel-a leading", func() bool { return r.holder(t) == "sentinel-a" })
		key := r.pageOnly(t, "demo")
		r.start(t, "sentinel-b", r.config())
		if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if err := <-a.done; err != nil {
			t.Errorf("sentinel-a exited with %v after SIGTERM", err)
		}
		a.done <- nil // for the cleanup
		gone := len(r.pd.Events())
		eventually(t, 30*time.Second, "sentinel-b leading", func() bool { return r.holder(t) == "sentinel-b" })
		r.endFailure(t, "demo", key, gone)
	})
}

// A failing workload's Deployment is deleted mid-incident: the incident
// resolves saying so, and what its pods served, still in the rate window
// or served while they terminate, opens no new incident.
func TestFaultDeletedDeployment(t *testing.T) {
	r := newRig(t, "fault-deleted", "demo")
	cfg := r.config()
	a := r.start(t, "sentinel-a", cfg)
	eventually(t, 30*time.Second, "sentinel-a leading", func() bool { return r.holder(t) == "sentinel-a" })
	key := r.pageOnly(t, "demo")

	// Its pods go on serving, failing, for two rate windows after the
	// Deployment is deleted, as terminating pods may for their grace
	// period: longer than the leftover of the rate window alone.
	drain := 2 * cfg.Detection.RateWindow
	r.exp.force("demo", true)
	r.c.kubectl(t, "-n", r.ns, "delete", "deployment", "demo")
	deleted := time.Now()
	time.AfterFunc(drain, func() { r.exp.unforce("demo") })
	eventually(t, 30*time.Second, "the resolve", func() bool { return len(r.open()) == 0 })
	t.Logf("resolved %s after the Deployment was deleted", time.Since(deleted).Round(100*time.Millisecond))

	// The drain, two rate windows, the breach's for and resolve_after,
	// and two polls to spare, all after the resolve: long enough for
	// leftover metrics to have opened and paged an incident.
	d := cfg.Detection
	polls := int((drain+2*d.RateWindow+d.For+d.ResolveAfter)/d.PollInterval) + 2
	a.waitPolls(t, polls)

	if diff := cmp.Diff([]string{key}, r.incidents("demo")); diff != "" {
		t.Errorf("incidents of demo (-want +got):\n%s", diff)
	}
	if open := r.open(); len(open) != 0 {
		t.Errorf("alerts left open: %v", open)
	}
	evs := r.sent(t, key)
	last := evs[len(evs)-1]
	want := sentEvent{Action: "resolve", Kind: "resolve", Message: "the Deployment was deleted"}
	if diff := cmp.Diff(want, sentEvent{Action: last.Action, Kind: last.Kind, Message: last.Message}); diff != "" {
		t.Errorf("the last event (-want +got):\n%s", diff)
	}
	if !strings.Contains(last.Summary, "Deployment was deleted") {
		t.Errorf("the resolve's summary %q does not say the Deployment was deleted", last.Summary)
	}

	// sentinel's own rollout after the delete: the new replica replays
	// the deleted workload's failing history, and must not page it again.
	b := r.start(t, "sentinel-b", cfg)
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "sentinel-b leading", func() bool { return r.holder(t) == "sentinel-b" })
	b.waitPolls(t, int((d.For+d.ResolveAfter)/d.PollInterval)+2)
	if diff := cmp.Diff([]string{key}, r.incidents("demo")); diff != "" {
		t.Errorf("incidents of demo after the rollout (-want +got):\n%s", diff)
	}
	if open := r.open(); len(open) != 0 {
		t.Errorf("alerts open after the rollout: %v", open)
	}
}

// Health survives a restart: the new replica replays the metrics history,
// so a bad `kubectl set image` right after it is ready is rolled back to
// the revision that served healthily before the restart — which the new
// replica has not watched for healthy.min_duration itself.
func TestFaultRestartKeepsHealth(t *testing.T) {
	r := newRig(t, "fault-restart", "demo")
	cfg := r.config()
	cfg.Rollback.Healthy.MinDuration = 20 * time.Second // longer than sentinel-b watches before the change
	a := r.start(t, "sentinel-a", cfg)
	eventually(t, 30*time.Second, "sentinel-a leading", func() bool { return r.holder(t) == "sentinel-a" })
	// v1 serves healthily for min_duration and a rate window, as seen
	// by sentinel-a's polls.
	healthyBy := time.Now().Add(cfg.Rollback.Healthy.MinDuration + cfg.Detection.RateWindow)
	eventually(t, 60*time.Second, "a poll after v1 served min_duration", func() bool { return !a.lastPoll(t).Before(healthyBy) })

	if err := a.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-a.done
	a.done <- nil // for the cleanup
	restarted := time.Now()
	r.start(t, "sentinel-b", cfg)
	eventually(t, 30*time.Second, "sentinel-b leading", func() bool { return r.holder(t) == "sentinel-b" })
	r.setImage(t, "demo", "v2")
	changed := time.Now()
	t.Logf("the bad change %s after sentinel-b started", changed.Sub(restarted).Round(100*time.Millisecond))

	eventually(t, 60*time.Second, "the rollback to v1", func() bool { return r.image(t, "demo") == "registry.example/demo:v1" })
	t.Logf("rolled back %s after the change", time.Since(changed).Round(100*time.Millisecond))
	eventually(t, 60*time.Second, "the resolve", func() bool { return len(r.open()) == 0 })

	keys := r.incidents("demo")
	if len(keys) != 1 {
		t.Fatalf("%d incidents for demo, want one: %v", len(keys), keys)
	}
	if diff := cmp.Diff([]string{"page", "rollback", "resolve"}, r.story(t, keys[0])); diff != "" {
		t.Errorf("what PagerDuty received (-want +got):\n%s", diff)
	}
	if rev := r.revision(t, "demo"); rev != "3" {
		t.Errorf("revision %s, want 3: one rollback after the bad change", rev)
	}
	if n := r.rollbackEvents(t); n != 1 {
		t.Errorf("%d SentinelRollback events, want one", n)
	}
}

// A workload stops serving after a Helm upgrade (its sidecars go quiet
// while its Deployment wants a replica and has none available) and is
// paged; then it is scaled to zero. It wants nothing, so nothing fails:
// the incident resolves and says why.
func TestFaultScaledToZero(t *testing.T) {
	r := newRig(t, "fault-scaled", "demo", "web") // web keeps the source answering
	cfg := r.config()
	a := r.start(t, "sentinel-a", cfg)
	eventually(t, 30*time.Second, "sentinel-a leading", func() bool { return r.holder(t) == "sentinel-a" })
	// A template change by Helm: a stop after it is paged, not rolled
	// back (Helm is trusted).
	r.helmUpgrade(t, "demo", "v3")
	eventually(t, 30*time.Second, "demo at revision 2", func() bool { return r.revision(t, "demo") == "2" })
	a.waitPolls(t, 2)

	r.exp.silence("demo")
	stopped := time.Now()
	eventually(t, 60*time.Second, "the page", func() bool { return len(r.incidents("demo")) == 1 })
	t.Logf("paged %s after the workload stopped serving", time.Since(stopped).Round(100*time.Millisecond))
	key := r.incidents("demo")[0]
	if page := r.sent(t, key)[0]; !strings.Contains(page.Summary, "stopped serving") {
		t.Errorf("the page %q does not say the workload stopped serving", page.Summary)
	}

	r.c.kubectl(t, "-n", r.ns, "scale", "deployment/demo", "--replicas=0")
	scaled := time.Now()
	eventually(t, 60*time.Second, "the resolve", func() bool { return len(r.open()) == 0 })
	t.Logf("resolved %s after the scale to zero", time.Since(scaled).Round(100*time.Millisecond))
	d := cfg.Detection
	a.waitPolls(t, int((d.RateWindow+d.For+d.ResolveAfter)/d.PollInterval)+2)

	if diff := cmp.Diff([]string{key}, r.incidents("demo")); diff != "" {
		t.Errorf("incidents of demo (-want +got):\n%s", diff)
	}
	if open := r.open(); len(open) != 0 {
		t.Errorf("alerts left open: %v", open)
	}
	evs := r.sent(t, key)
	if last := evs[len(evs)-1]; last.Action != "resolve" || !strings.Contains(last.Summary, "scaled to zero") {
		t.Errorf("the last event is a %s saying %q, want a resolve saying the Deployment was scaled to zero", last.Action, last.Summary)
	}
}

// pageOnly makes a workload fail through a Helm upgrade to v2, which
// sentinel pages without rolling back, and returns the alert's dedup key.
func (r *rig) pageOnly(t *testing.T, name string) string {
	t.Helper()
	r.helmUpgrade(t, name, "v2")
	eventually(t, 60*time.Second, "the page of "+name, func() bool { return len(r.incidents(name)) == 1 })
	return r.incidents(name)[0]
}

// endFailure ends a page-only incident (a Helm upgrade to v3, healthy)
// after the replica that paged it is gone, and checks that its one alert
// was continued and resolved by the replica that carried on: every
// trigger of the workload under one dedup key, with the onset of the
// first page, and the alert resolved. gone is the number of events
// PagerDuty had accepted when the replica was gone.
func (r *rig) endFailure(t *testing.T, name, key string, gone int) {
	t.Helper()
	r.helmUpgrade(t, name, "v3")
	ended := time.Now()
	eventually(t, 60*time.Second, "the resolve", func() bool { return len(r.open()) == 0 })
	t.Logf("resolved %s after the failure ended", time.Since(ended).Round(100*time.Millisecond))

	if diff := cmp.Diff([]string{key}, r.incidents(name)); diff != "" {
		t.Errorf("alerts of %s (-want +got):\n%s", name, diff)
	}
	evs := r.sent(t, key)
	onsets := map[time.Time]int{}
	for _, e := range evs {
		if e.Action == "trigger" {
			onsets[e.Onset]++
		}
	}
	if len(onsets) != 1 {
		t.Errorf("triggers with %d onsets, want one: %v", len(onsets), onsets)
	}
	story := r.story(t, key)
	if story[0] != "page" || story[len(story)-1] != "resolve" {
		t.Errorf("what PagerDuty received: %v, want the page first and the resolve last", story)
	}
	var after int
	for _, e := range r.pd.Events()[gone:] {
		if e.DedupKey == key {
			after++
		}
	}
	if after == 0 {
		t.Errorf("no event of %s after the first replica was gone", key)
	}
	t.Logf("%s: %v; %d of its %d events came after the first replica was gone", key, story, after, len(evs))
}

// helmUpgrade upgrades a release to image tag.
func (r *rig) helmUpgrade(t *testing.T, name, tag string) {
	t.Helper()
	r.c.helmCmd(t, "upgrade", name, chart(), "--namespace", r.ns, "--set", "image=registry.example/demo:"+tag)
}

// sentEvent is one event PagerDuty accepted, as the on-call reads it.
type sentEvent struct {
	Action, Kind, Summary, Message string
	Onset                          time.Time
}

// sent returns the events of one dedup key with what their payloads say
// (nothing for an event without a payload).
func (r *rig) sent(t *testing.T, key string) []sentEvent {
	t.Helper()
	var out []sentEvent
	for _, e := range r.events(key) {
		s := sentEvent{Action: e.Action}
		if e.Payload != nil {
			var d struct {
				Kind    string    `json:"kind"`
				Message string    `json:"message"`
				Onset   time.Time `json:"onset"`
			}
			if err := json.Unmarshal(e.Payload.CustomDetails, &d); err != nil {
				t.Fatalf("event %s: custom details: %v", key, err)
			}
			s.Summary, s.Kind, s.Message, s.Onset = e.Payload.Summary, d.Kind, d.Message, d.Onset
		}
		out = append(out, s)
	}
	return out
}

// waitPolls waits until the replica has completed n more polls
// (sentinel_polls_total).
func (p *process) waitPolls(t *testing.T, n int) {
	t.Helper()
	from := p.metric(t, "sentinel_polls_total", nil)
	eventually(t, time.Duration(n)*5*time.Second, fmt.Sprintf("%d more polls of %s", n, p.name), func() bool {
		return p.metric(t, "sentinel_polls_total", nil) >= from+float64(n)
	})
}

// lastPoll is the instant of the replica's last poll the source answered.
func (p *process) lastPoll(t *testing.T) time.Time {
	t.Helper()
	return time.Unix(int64(p.metric(t, "sentinel_last_successful_poll_timestamp_seconds", nil)), 0)
}
