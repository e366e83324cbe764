package simulate_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sentinel-sre/sentinel/test/scenariogen"
)

// TestAdversaryHoverAtThreshold: ratios near detection.threshold (50%).
// Failing more than half the requests pages; hovering just under it, with
// single polls above the line, does not.
func TestAdversaryHoverAtThreshold(t *testing.T) {
	cases := []struct {
		name  string
		fails func(api *scenariogen.Workload)
		want  verdict
	}{
		{"steady 58%", func(api *scenariogen.Workload) {
			api.Fail(scenariogen.Failure{From: at(10, 0), To: at(30, 0), Code: "500", Ratio: 0.58})
		}, verdict{Pages: 1, Incidents: 1, Blame: "older_revision_failing"}},
		{"steady 42% with noisy polls", func(api *scenariogen.Workload) {
			api.Fail(scenariogen.Failure{From: at(10, 0), To: at(30, 0), Code: "500", Ratio: 0.42})
		}, verdict{}},
		{"60% and 45% every 30 s", func(api *scenariogen.Workload) {
			for from := at(10, 0); from.Before(at(30, 0)); from = from.Add(time.Minute) {
				api.Fail(scenariogen.Failure{From: from, To: from.Add(30 * time.Second), Code: "500", Ratio: 0.6})
				api.Fail(scenariogen.Failure{From: from.Add(30 * time.Second), To: from.Add(time.Minute), Code: "500", Ratio: 0.45})
			}
		}, verdict{Pages: 1, Incidents: 1, Blame: "older_revision_failing"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, api := advScenario(0)
			tc.fails(api)
			if diff := cmp.Diff(tc.want, advReplay(t, advWrite(t, s), "api")); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestAdversaryRecreateSlowStart: after a healthy `kubectl set image`
// under a Recreate-like rollout the new pods serve only after a while
// (the Deployment reports none available meanwhile). A minute of
// start-up is a normal rollout; docs/detection.md says one longer than
// the rate window plus `for` pages as stopped serving.
func TestAdversaryRecreateSlowStart(t *testing.T) {
	cases := []struct {
		startup time.Duration // from the change until the new pods serve
		want    verdict
	}{
		{45 * time.Second, verdict{}},
		{time.Minute, verdict{}},
		{4 * time.Minute, verdict{Pages: 1, Incidents: 1, Rollbacks: 1, To: 1, Blame: "before_errors", Blamed: 2}},
	}
	for _, tc := range cases {
		t.Run(tc.startup.String(), func(t *testing.T) {
			t.Parallel()
			s, api := advScenario(0)
			api.SetImage(at(15, 0), "kubectl-set", "registry.example/api:2")
			dir := advWrite(t, s)
			// The old pods stop 20 s after the change (the generator's
			// rollout delay); the new ones answer from startup on.
			rewriteMetrics(t, dir, func(series string, ts time.Time) (string, bool) {
				down := ts.After(at(15, 20)) && ts.Before(at(15, 0).Add(tc.startup))
				return series, !(down && seriesOf("api")(series))
			})
			withNoReplicaAvailable(t, dir) // the new pods are not ready while down
			if diff := cmp.Diff(tc.want, advReplay(t, dir, "api")); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestAdversaryScaledToZero: a Deployment scaled to zero on purpose five
// minutes after an image change serves nothing from then on: not an
// incident.
func TestAdversaryScaledToZero(t *testing.T) {
	s, api := advScenario(0)
	api.SetImage(at(15, 0), "kubectl-set", "registry.example/api:2")
	dir := advWrite(t, s)
	scaleToZero(t, dir, "api", at(20, 0))
	rewriteMetrics(t, dir, func(series string, ts time.Time) (string, bool) {
		return series, !(ts.After(at(20, 5)) && seriesOf("api")(series))
	})
	if diff := cmp.Diff(verdict{}, advReplay(t, dir, "api")); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// scaleToZero appends to dir's objects.yaml the last observation of
// Deployment name scaled to zero replicas by kubectl-scale at when.
func scaleToZero(t *testing.T, dir, name string, when time.Time) {
	t.Helper()
	path := filepath.Join(dir, scenariogen.ObjectsFile)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n---\n")
	var last string
	for _, d := range docs {
		if strings.Contains(d, "kind: Deployment\n") && strings.Contains(d, "\n  name: "+name+"\n") &&
			!strings.Contains(d, "kind: ReplicaSet\n") {
			last = d
		}
	}
	if last == "" {
		t.Fatalf("no Deployment %s in %s", name, path)
	}
	scaled := regexp.MustCompile(`(?m)^  replicas: \d+$`).ReplaceAllString(last, "  replicas: 0")
	scaled = regexp.MustCompile(`(?m)^  resourceVersion: ["']?(\d+)["']?$`).ReplaceAllString(scaled, "  resourceVersion: '${1}9'")
	entry := fmt.Sprintf(`  managedFields:
  - apiVersion: apps/v1
    fieldsType: FieldsV1
    fieldsV1:
      f:spec:
        f:replicas: {}
    manager: kubectl-scale
    operation: Update
    subresource: scale
    time: '%s'
`, when.UTC().Format(time.RFC3339))
	scaled = strings.Replace(scaled, "  managedFields:\n", entry, 1)
	docs = append(docs, scaled)
	if err := os.WriteFile(path, []byte(strings.Join(docs, "\n---\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestAdversaryOddPodLabels: a rolling `kubectl set image` whose new pods
// fail 95% while the old ones serve. Whatever the new pods' series say
// of their revision, the bad image is caught and rolled back; with labels
// that resolve, mid-rollout by the revision rule.
func TestAdversaryOddPodLabels(t *testing.T) {
	cases := []struct {
		name    string
		relabel func(series string) string
		want    verdict
	}{
		{"labels resolve", nil,
			verdict{Pages: 1, Incidents: 1, Rollbacks: 1, To: 1, Blame: "failing_revision", Blamed: 2}},
		{"pod name without a dash", func(s string) string {
			return podName.ReplaceAllString(s, `,pod="apipod"`)
		}, verdict{Pages: 1, Incidents: 1, Rollbacks: 1, To: 1, Blame: "before_errors", Blamed: 2}},
		{"another Deployment's pod name", func(s string) string {
			return podName.ReplaceAllString(s, `,pod="web-5d8f7c9b6-abcde"`)
		}, verdict{Pages: 1, Incidents: 1, Rollbacks: 1, To: 1, Blame: "before_errors", Blamed: 2}},
		{"a pod_template_hash no ReplicaSet has", func(s string) string {
			return strings.Replace(s, `,pod="`, `,pod_template_hash="zzzzzzzzz",pod="`, 1)
		}, verdict{Pages: 1, Incidents: 1, Rollbacks: 1, To: 1, Blame: "before_errors", Blamed: 2}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, api := advScenario(time.Minute)
			api.Fail(scenariogen.Failure{Revisions: []int64{2}, Code: "500", Ratio: 0.95})
			api.SetImage(at(15, 0), "kubectl-set", "registry.example/api:2")
			dir := advWrite(t, s)
			if tc.relabel != nil {
				old := podsAt(t, dir, "api", advStart)
				rewriteMetrics(t, dir, func(series string, _ time.Time) (string, bool) {
					m := podName.FindStringSubmatch(series)
					if seriesOf("api")(series) && m != nil && !old[m[1]] {
						series = tc.relabel(series)
					}
					return series, true
				})
			}
			if diff := cmp.Diff(tc.want, advReplay(t, dir, "api")); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

var podName = regexp.MustCompile(`,pod="([^"]+)"`)

// TestAdversaryFlappingScrape: a bad `kubectl set image` whose pods fail
// 90% while the scrape of its pods drops out for 75 s of every 2 min (the
// Deployment says its replicas are available, so it is no stop). Every
// poll with data breaches: sentinel must still page.
func TestAdversaryFlappingScrape(t *testing.T) {
	s, api := advScenario(0)
	api.Fail(scenariogen.Failure{Revisions: []int64{2}, Code: "500", Ratio: 0.9})
	api.SetImage(at(15, 0), "kubectl-set", "registry.example/api:2")
	dir := advWrite(t, s)
	withAvailableReplicas(t, dir)
	rewriteMetrics(t, dir, func(series string, ts time.Time) (string, bool) {
		phase := ts.Sub(advStart) % (2 * time.Minute)
		return series, !(ts.After(at(15, 0)) && phase >= 45*time.Second && seriesOf("api")(series))
	})
	got := advReplay(t, dir, "api")
	want := verdict{Pages: got.Pages, Incidents: 1, Rollbacks: 1, To: 1, Blame: "failing_revision", Blamed: 2}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
