package scenariogen

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// The fleet recording of the replay and backtest benchmarks
// (docs/benchmarks.md describes it).
const (
	FleetWorkloads  = 1000
	fleetNamespaces = 20
	// FleetSpikes is how many of its workloads get a bad image: the
	// pages and rollbacks a replay of it must take.
	FleetSpikes = 5
)

// Fleet describes a day of a 1,000-Deployment mesh at 15 s resolution:
// one pod each, reporter="destination" only, minimal labels, a 200 and a
// 500 series per pod; FleetSpikes of them get a `kubectl set image` whose
// pods fail 80% of requests for 20 minutes.
func Fleet() *Scenario {
	start := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	s := New(Options{Start: start, End: start.Add(24 * time.Hour), Step: 15 * time.Second,
		Seed: 1000, Reporters: []string{ReporterDestination}, MinimalLabels: true})
	for i := range FleetWorkloads {
		name := fmt.Sprintf("svc-%04d", i)
		w := s.AddWorkload(WorkloadSpec{
			Namespace: fmt.Sprintf("team-%02d", i%fleetNamespaces), Name: name,
			Image:    fmt.Sprintf("registry.example/fleet/%s:1.0.%d", name, i%7),
			Replicas: 1, RequestRate: float64(1 + i*37%20), Created: start.Add(-time.Hour), Manager: "helm",
		})
		// A background of 500s, so every pod has its 500 series.
		w.Fail(Failure{Code: "500", Ratio: 0.002})
		// Spread over the day and over namespaces: 02:00 in team-17,
		// 06:00 in team-18, and so on.
		if k := i / (FleetWorkloads / FleetSpikes); i%(FleetWorkloads/FleetSpikes) == 17+k {
			at := start.Add(2*time.Hour + time.Duration(k)*4*time.Hour)
			w.SetImage(at, "kubectl-set", fmt.Sprintf("registry.example/fleet/%s:1.1.0", name))
			w.Fail(Failure{Revisions: []int64{2}, From: at, To: at.Add(20 * time.Minute), Code: "500", Ratio: 0.8})
		}
	}
	return s
}

// WriteCached writes s once into root/sentinel-bench-KEY and returns that
// directory, reused on later runs: the key changes whenever the
// description or the generator's output does. written is false when the
// directory was already there.
func (s *Scenario) WriteCached(root string) (dir string, written bool, err error) {
	dir = filepath.Join(root, "sentinel-bench-"+s.Key())
	done := filepath.Join(dir, "complete")
	if _, err := os.Stat(done); err == nil {
		return dir, false, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", false, err
	}
	tmp, err := os.MkdirTemp(root, "sentinel-bench-partial-")
	if err != nil {
		return "", false, err
	}
	sum, err := s.Write(tmp)
	if err == nil {
		err = os.WriteFile(filepath.Join(tmp, "complete"), fmt.Appendf(nil, "%+v\n", sum), 0o644)
	}
	if err != nil {
		os.RemoveAll(tmp)
		return "", false, err
	}
	os.RemoveAll(dir) // a partial earlier attempt
	if err := os.Rename(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		if _, serr := os.Stat(done); serr != nil { // not a concurrent run that got there first
			return "", false, err
		}
	}
	return dir, true, nil
}
