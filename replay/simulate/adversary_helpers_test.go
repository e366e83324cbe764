package simulate_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/incident"
	"github.com/sentinel-sre/sentinel/notify"
	"github.com/sentinel-sre/sentinel/replay/simulate"
	"github.com/sentinel-sre/sentinel/test/scenariogen"
)

// The adversarial replays: a stranger's attempts to fool the judgement
// rules of docs/detection.md with hand-shaped recordings. Each starts from
// a generated scenario and, where the generator cannot say something,
// rewrites its files.

// advStart is when every adversarial recording starts.
var advStart = time.Date(2026, 6, 2, 10, 0, 0, 0, time.UTC)

// at is advStart plus minutes and seconds.
func at(min, sec int) time.Time {
	return advStart.Add(time.Duration(min)*time.Minute + time.Duration(sec)*time.Second)
}

// advScenario is a 50-minute recording of shop/api (4 pods, 40 req/s,
// created by Helm two hours before, a clean 0.3% of 503s) beside a
// healthy neighbour shop/web, for the test to add failures and changes to.
func advScenario(rolling time.Duration) (*scenariogen.Scenario, *scenariogen.Workload) {
	s := scenariogen.New(scenariogen.Options{Start: advStart, End: advStart.Add(50 * time.Minute), Seed: 7,
		MinimalLabels: true})
	api := s.AddWorkload(scenariogen.WorkloadSpec{Namespace: "shop", Name: "api", Image: "registry.example/api:1",
		Replicas: 4, RequestRate: 40, Created: advStart.Add(-2 * time.Hour), Manager: "helm", RollingStep: rolling})
	api.Fail(scenariogen.Failure{Code: "503", Ratio: 0.003})
	s.AddWorkload(scenariogen.WorkloadSpec{Namespace: "shop", Name: "web", Image: "registry.example/web:1",
		Replicas: 2, RequestRate: 20, Created: advStart.Add(-2 * time.Hour), Manager: "helm"}).
		Fail(scenariogen.Failure{Code: "503", Ratio: 0.002})
	return s, api
}

// write writes s into a fresh directory.
func advWrite(t *testing.T, s *scenariogen.Scenario) string {
	t.Helper()
	dir := t.TempDir()
	if _, err := s.Write(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// sample is one parsed line of metrics.om.
var sampleLine = regexp.MustCompile(`^(istio_requests_total\{[^}]*\}) (\S+) (\d+)$`)

// rewriteMetrics passes every sample line of dir's metrics.om through f
// (its series, value and time); f returns the new series, or drop.
func rewriteMetrics(t *testing.T, dir string, f func(series string, ts time.Time) (string, bool)) {
	t.Helper()
	path := filepath.Join(dir, scenariogen.MetricsFile)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	out := lines[:0]
	for _, l := range lines {
		m := sampleLine.FindStringSubmatch(l)
		if m == nil {
			out = append(out, l)
			continue
		}
		sec, err := strconv.ParseInt(m[3], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		series, keep := f(m[1], time.Unix(sec, 0).UTC())
		if keep {
			out = append(out, series+" "+m[2]+" "+m[3])
		}
	}
	if err := os.WriteFile(path, []byte(strings.Join(out, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
}

// withoutPodLabel renames the pod label of the series f selects to one
// sentinel does not read: their revision cannot be told, as with a scrape
// that adds neither pod nor pod_template_hash.
func withoutPodLabel(t *testing.T, dir string, f func(series string) bool) {
	t.Helper()
	rewriteMetrics(t, dir, func(s string, _ time.Time) (string, bool) {
		if f(s) {
			s = strings.Replace(s, `,pod="`, `,instance_pod="`, 1)
		}
		return s, true
	})
}

func allSeries(string) bool { return true }

// seriesOf selects the series of one workload.
func seriesOf(workload string) func(string) bool {
	return func(s string) bool { return strings.Contains(s, `destination_workload="`+workload+`"`) }
}

// podsAt returns the pods of workload that have a sample at ts.
func podsAt(t *testing.T, dir, workload string, ts time.Time) map[string]bool {
	t.Helper()
	pods := map[string]bool{}
	podLabel := regexp.MustCompile(`,pod="([^"]+)"`)
	rewriteMetrics(t, dir, func(s string, at time.Time) (string, bool) {
		if at.Equal(ts) && seriesOf(workload)(s) {
			if m := podLabel.FindStringSubmatch(s); m != nil {
				pods[m[1]] = true
			}
		}
		return s, true
	})
	return pods
}

// withAvailableReplicas writes into every Deployment's status that all its
// replicas are available (what the generator writes too).
func withAvailableReplicas(t *testing.T, dir string) { t.Helper(); setAvailable(t, dir, true) }

// withNoReplicaAvailable writes into every Deployment's status that none
// of its replicas is available, as while new pods never become ready.
func withNoReplicaAvailable(t *testing.T, dir string) { t.Helper(); setAvailable(t, dir, false) }

func setAvailable(t *testing.T, dir string, all bool) {
	t.Helper()
	path := filepath.Join(dir, scenariogen.ObjectsFile)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	replicas := regexp.MustCompile(`(?m)^  replicas: (\d+)$`)
	available := regexp.MustCompile(`(?m)^  availableReplicas: \d+\n`)
	docs := strings.Split(string(b), "\n---\n")
	for i, d := range docs {
		if !strings.Contains(d, "\nkind: Deployment\n") && !strings.HasPrefix(d, "apiVersion: apps/v1\nkind: Deployment\n") {
			continue
		}
		m := replicas.FindStringSubmatch(d)
		if m == nil {
			t.Fatalf("deployment without spec.replicas:\n%s", d)
		}
		n := m[1]
		if !all {
			n = "0"
		}
		d = available.ReplaceAllString(d, "")
		docs[i] = strings.Replace(d, "\nstatus:\n", "\nstatus:\n  availableReplicas: "+n+"\n", 1)
	}
	if err := os.WriteFile(path, []byte(strings.Join(docs, "\n---\n")), 0o644); err != nil {
		t.Fatal(err)
	}
}

// verdict is what sentinel did about shop/api, as an SRE reads it.
type verdict struct {
	Pages     int    // pages sent, first and reopened
	Incidents int    // distinct incident ids (PagerDuty dedup keys)
	Rollbacks int    // rollbacks done
	To        int64  // the revision the last rollback restored
	Blame     string // how the first page chose its cause (evidence.Rule)
	Blamed    int64  // the revision the first page's cause created; 0 when none
}

// replay replays dir with the default configuration and returns what
// sentinel did about workload.
func advReplay(t *testing.T, dir, workload string) verdict {
	t.Helper()
	return replayWith(t, dir, workload, config.Default())
}

func replayWith(t *testing.T, dir, workload string, cfg config.Config) verdict {
	t.Helper()
	var out notify.Collect
	if _, err := simulate.Run(t.Context(), dir, cfg, &out); err != nil {
		t.Fatal(err)
	}
	var v verdict
	ids := map[string]bool{}
	for _, a := range out.Actions {
		t.Logf("%s %s %s", a.At.Format("15:04:05"), a.Kind, a.Summary())
		if a.Evidence != nil {
			t.Logf("  why: %s", a.Evidence.Why)
		}
		if a.Workload.Name != workload {
			continue
		}
		switch a.Kind {
		case incident.Page:
			if v.Pages == 0 && a.Evidence != nil {
				v.Blame = string(a.Evidence.Blame)
				if a.Cause != nil {
					v.Blamed = a.Cause.Revision
				}
			}
			v.Pages++
			ids[a.Incident] = true
		case incident.Rollback:
			v.Rollbacks++
			v.To = a.Plan.ToRevision
		}
	}
	v.Incidents = len(ids)
	return v
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
