package simulate_test

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/incident"
	"github.com/sentinel-sre/sentinel/notify"
	"github.com/sentinel-sre/sentinel/replay/simulate"
	"github.com/sentinel-sre/sentinel/test/scenariogen"
)

// cachedRecording writes s once under os.TempDir() and reuses it.
func cachedRecording(b *testing.B, s *scenariogen.Scenario) string {
	b.Helper()
	began := time.Now()
	dir, written, err := s.WriteCached(os.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	if written {
		b.Logf("generated %s in %s", dir, time.Since(began).Round(time.Millisecond))
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
		var c notify.Collect
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
	if n := simulate.Tally(actions); n[incident.Page] != wantPages || n[incident.Rollback] != wantPages ||
		n[incident.Resolve] != wantPages {
		for _, a := range actions {
			b.Logf("%s %s %s", a.At.UTC().Format(time.RFC3339), a.Kind, a.Summary())
		}
		b.Fatalf("%d pages, %d rollbacks, %d resolves; want %d of each", n[incident.Page], n[incident.Rollback],
			n[incident.Resolve], wantPages)
	}
}

// BenchmarkSimulate24h1000Workloads times simulate.Run over a day of a
// 1,000-workload mesh (about 11.5 million samples); generating the
// recording is not timed and is cached across runs.
func BenchmarkSimulate24h1000Workloads(b *testing.B) {
	dir := cachedRecording(b, scenariogen.Fleet())
	benchmarkReplay(b, dir, scenariogen.FleetSpikes)
}

// BenchmarkSimulateMLI6574 times the bundled MLI-6574 replay.
func BenchmarkSimulateMLI6574(b *testing.B) {
	benchmarkReplay(b, mliDir, 1)
}

// TestFleetDescription keeps the benchmark's recording valid without
// running the benchmark.
func TestFleetDescription(t *testing.T) {
	if err := scenariogen.Fleet().Err(); err != nil {
		t.Fatal(err)
	}
}
