package simulate_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/incident"
	"github.com/sentinel-sre/sentinel/internal/scenariogen"
	"github.com/sentinel-sre/sentinel/simulate"
)

// Fleet recording of BenchmarkSimulate24h1000Workloads (docs/benchmarks.md
// describes it).
const (
	fleetWorkloads  = 1000
	fleetNamespaces = 20
	fleetSpikes     = 5
)

// fleet describes a day of a 1,000-Deployment mesh at 15 s resolution:
// one pod each, reporter="destination" only, minimal labels, a 200 and a
// 500 series per pod; fleetSpikes of them get a `kubectl set image` whose
// pods fail 80% of requests for 20 minutes.
func fleet() *scenariogen.Scenario {
	start := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	s := scenariogen.New(scenariogen.Options{Start: start, End: start.Add(24 * time.Hour), Step: 15 * time.Second,
		Seed: 1000, Reporters: []string{scenariogen.ReporterDestination}, MinimalLabels: true})
	for i := range fleetWorkloads {
		name := fmt.Sprintf("svc-%04d", i)
		w := s.AddWorkload(scenariogen.WorkloadSpec{
			Namespace: fmt.Sprintf("team-%02d", i%fleetNamespaces), Name: name,
			Image:    fmt.Sprintf("registry.example/fleet/%s:1.0.%d", name, i%7),
			Replicas: 1, RequestRate: float64(1 + i*37%20), Created: start.Add(-time.Hour), Manager: "helm",
		})
		// A background of 500s, so every pod has its 500 series.
		w.Fail(scenariogen.Failure{Code: "500", Ratio: 0.002})
		// Spread over the day and over namespaces: 02:00 in team-17,
		// 06:00 in team-18, and so on.
		if k := i / (fleetWorkloads / fleetSpikes); i%(fleetWorkloads/fleetSpikes) == 17+k {
			at := start.Add(2*time.Hour + time.Duration(k)*4*time.Hour)
			w.SetImage(at, "kubectl-set", fmt.Sprintf("registry.example/fleet/%s:1.1.0", name))
			w.Fail(scenariogen.Failure{Revisions: []int64{2}, From: at, To: at.Add(20 * time.Minute), Code: "500", Ratio: 0.8})
		}
	}
	return s
}

// cachedRecording writes s once into os.TempDir()/sentinel-bench-KEY and
// reuses it on later runs: the key changes whenever the description or
// the generator's output does.
func cachedRecording(b *testing.B, s *scenariogen.Scenario) string {
	b.Helper()
	dir := filepath.Join(os.TempDir(), "sentinel-bench-"+s.Key())
	done := filepath.Join(dir, "complete")
	if _, err := os.Stat(done); err == nil {
		return dir
	} else if !errors.Is(err, fs.ErrNotExist) {
		b.Fatal(err)
	}
	tmp, err := os.MkdirTemp(os.TempDir(), "sentinel-bench-partial-")
	if err != nil {
		b.Fatal(err)
	}
	began := time.Now()
	sum, err := s.Write(tmp)
	if err == nil {
		err = os.WriteFile(filepath.Join(tmp, "complete"), fmt.Appendf(nil, "%+v\n", sum), 0o644)
	}
	if err != nil {
		os.RemoveAll(tmp)
		b.Fatal(err)
	}
	b.Logf("generated %s in %s: %+v", dir, time.Since(began).Round(time.Millisecond), sum)
	os.RemoveAll(dir) // a partial earlier attempt
	if err := os.Rename(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		if _, serr := os.Stat(done); serr != nil { // not a concurrent run that got there first
			b.Fatal(err)
		}
	}
	return dir
}

// cpuTime is the CPU time this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// resetPeakRSS restarts the kernel's peak-RSS count (VmHWM) for this
// process, so the peak reported is the replay's; best effort.
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// peakRSS reads VmHWM from /proc/self/status, in bytes; 0 where there is
// no /proc.
func peakRSS() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := bytes.CutPrefix(sc.Bytes(), []byte("VmHWM:")); ok {
			kb, err := strconv.ParseFloat(string(bytes.TrimSpace(bytes.TrimSuffix(bytes.TrimSpace(v), []byte("kB")))), 64)
			if err == nil {
				return kb * 1024
			}
		}
	}
	return 0
}

func benchmarkReplay(b *testing.B, dir string, wantPages int) {
	fi, err := os.Stat(filepath.Join(dir, simulate.MetricsFile))
	if err != nil {
		b.Fatal(err)
	}
	cfg := config.Default()
	// Return what earlier benchmarks left on the heap, so the peak is this
	// replay's.
	debug.FreeOSMemory()
	resetPeakRSS()
	var (
		res     simulate.Result
		actions []incident.Action
	)
	cpu0 := cpuTime()
	for b.Loop() {
		var c simulate.Collect
		res, err = simulate.Run(b.Context(), dir, cfg, &c)
		if err != nil {
			b.Fatal(err)
		}
		actions = c.Actions
	}
	secs := b.Elapsed().Seconds() / float64(b.N)
	// CPU time next to wall time: on a busy machine the wall time says
	// more about the neighbours than about sentinel.
	b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
	b.ReportMetric(float64(res.Polls), "polls")
	b.ReportMetric(float64(res.Samples), "samples")
	b.ReportMetric(float64(res.Samples)/secs, "samples/s")
	b.ReportMetric(float64(fi.Size())/(1<<20), "file-MiB")
	b.ReportMetric(peakRSS()/(1<<20), "peak-RSS-MiB")
	if res.Stats.Pages != wantPages || res.Stats.Rollbacks != wantPages || res.Stats.Resolves != wantPages {
		for _, a := range actions {
			b.Logf("%s %s %s", a.At.UTC().Format(time.RFC3339), a.Kind, a.Summary())
		}
		b.Fatalf("%d pages, %d rollbacks, %d resolves; want %d of each", res.Stats.Pages, res.Stats.Rollbacks,
			res.Stats.Resolves, wantPages)
	}
}

// BenchmarkSimulate24h1000Workloads times simulate.Run over a day of a
// 1,000-workload mesh (about 11.5 million samples); generating the
// recording is not timed and is cached across runs.
func BenchmarkSimulate24h1000Workloads(b *testing.B) {
	dir := cachedRecording(b, fleet())
	benchmarkReplay(b, dir, fleetSpikes)
}

// BenchmarkSimulateMLI6574 times the bundled MLI-6574 replay.
func BenchmarkSimulateMLI6574(b *testing.B) {
	benchmarkReplay(b, mliDir, 1)
}

// TestFleetDescription keeps the benchmark's recording valid without
// running the benchmark.
func TestFleetDescription(t *testing.T) {
	if err := fleet().Err(); err != nil {
		t.Fatal(err)
	}
}
