package simulate_test

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sentinel-sre/sentinel/test/scenariogen"
)

// TestAdversaryClockSkew: the API server's clock (managedFields times)
// and Prometheus's (sample times) disagree by a few seconds either way.
// A bad image whose own pods fail 95% is still blamed and rolled back:
// with revision labels, the failing revision names its change whatever
// the clocks say.
func TestAdversaryClockSkew(t *testing.T) {
	cases := []struct {
		skew time.Duration // added to every managedFields time
		want verdict
	}{
		{-30 * time.Second, verdict{Pages: 1, Incidents: 1, Rollbacks: 1, To: 1, Blame: "failing_revision", Blamed: 2}},
		{5 * time.Second, verdict{Pages: 1, Incidents: 1, Rollbacks: 1, To: 1, Blame: "failing_revision", Blamed: 2}},
		{15 * time.Second, verdict{Pages: 1, Incidents: 1, Rollbacks: 1, To: 1, Blame: "failing_revision", Blamed: 2}},
		{45 * time.Second, verdict{Pages: 1, Incidents: 1, Rollbacks: 1, To: 1, Blame: "failing_revision", Blamed: 2}},
	}
	for _, tc := range cases {
		t.Run(tc.skew.String(), func(t *testing.T) {
			t.Parallel()
			s, api := advScenario(0)
			api.Fail(scenariogen.Failure{Revisions: []int64{2}, Code: "500", Ratio: 0.95})
			api.SetImage(at(15, 0), "kubectl-set", "registry.example/api:2")
			dir := advWrite(t, s)
			skewObjects(t, dir, tc.skew)
			if diff := cmp.Diff(tc.want, advReplay(t, dir, "api")); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// skewObjects moves every time in dir's objects.yaml by d.
func skewObjects(t *testing.T, dir string, d time.Duration) {
	t.Helper()
	path := filepath.Join(dir, scenariogen.ObjectsFile)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	stamp := regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`)
	b = stamp.ReplaceAllFunc(b, func(s []byte) []byte {
		ts, err := time.Parse(time.RFC3339, string(s))
		if err != nil {
			t.Fatal(err)
		}
		return []byte(ts.Add(d).Format(time.RFC3339))
	})
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
