package scenariogen

import (
	"bufio"
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/google/go-cmp/cmp"

	"github.com/sentinel-sre/sentinel/replay/scenario"
)

var update = flag.Bool("update", false, "rewrite the generated examples/ from the generator")

// bundled is the committed replay of MLI-6574.
var bundled = filepath.Join("..", "..", "examples", "mli-6574")

// TestBundledExampleUpToDate keeps every generated example in examples/
// exactly what the generator writes. After changing the generator or a
// scenario, run
//
//	go test ./test/scenariogen -run TestBundledExampleUpToDate -update
func TestBundledExampleUpToDate(t *testing.T) {
	for name, scenario := range map[string]func() *Scenario{"mli-6574": MLI6574, "rolling-update": RollingUpdate,
		"grpc": GRPC, "linkerd": Linkerd} {
		t.Run(name, func(t *testing.T) {
			committed := filepath.Join("..", "..", "examples", name)
			dir := t.TempDir()
			if *update {
				dir = committed
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			sum, err := scenario().Write(dir)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%+v", sum)
			if *update {
				return
			}
			for _, file := range []string{MetricsFile, ObjectsFile, ConfigFile} {
				got, err := os.ReadFile(filepath.Join(dir, file))
				if file == ConfigFile && os.IsNotExist(err) {
					if _, err := os.Stat(filepath.Join(committed, file)); !os.IsNotExist(err) {
						t.Errorf("examples/%s/%s is not generated", name, file)
					}
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				want, err := os.ReadFile(filepath.Join(committed, file))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("examples/%s/%s differs from what the generator writes (line %d); run\n"+
						"\tgo test ./test/scenariogen -run TestBundledExampleUpToDate -update",
						name, file, firstDiffLine(got, want))
				}
			}
		})
	}
}

func firstDiffLine(a, b []byte) int {
	line := 1
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return line
		}
		if a[i] == '\n' {
			line++
		}
	}
	return line
}

func TestDeterministic(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	if _, err := MLI6574().Write(a); err != nil {
		t.Fatal(err)
	}
	if _, err := MLI6574().Write(b); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{MetricsFile, ObjectsFile} {
		x, _ := os.ReadFile(filepath.Join(a, name))
		y, _ := os.ReadFile(filepath.Join(b, name))
		if !bytes.Equal(x, y) {
			t.Errorf("%s: two writes differ", name)
		}
	}
	if MLI6574().Key() != MLI6574().Key() {
		t.Error("Key differs between equal descriptions")
	}
}

// TestReadable checks the output with the readers sentinel replays it
// with: Prometheus's OpenMetrics parser and the objects reader.
func TestReadable(t *testing.T) {
	dir := t.TempDir()
	sum, err := MLI6574().Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := scenario.ReadMetricsFile(filepath.Join(dir, MetricsFile),
		scenario.Options{Names: scenario.DefaultNames(), FailureCodes: regexp.MustCompile(`^5..$`), Window: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Skipped) > 0 {
		t.Errorf("skipped samples: %v", m.Skipped)
	}
	// The reader keeps reporter="destination" only: half the samples.
	if m.Samples*2 != sum.Samples {
		t.Errorf("reader kept %d destination samples of %d written", m.Samples, sum.Samples)
	}
	if want := time.Date(2026, 4, 24, 23, 20, 0, 0, time.UTC); !m.First.Equal(want) {
		t.Errorf("first sample %s, want %s", m.First, want)
	}
	if want := time.Date(2026, 4, 25, 1, 0, 0, 0, time.UTC); !m.Last.Equal(want) {
		t.Errorf("last sample %s, want %s", m.Last, want)
	}

	objs, err := scenario.ReadObjectsFile(filepath.Join(dir, ObjectsFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != sum.Objects {
		t.Errorf("read %d objects, wrote %d", len(objs), sum.Objects)
	}
	var last time.Time
	for _, o := range objs {
		var meta *metav1.ObjectMeta
		if o.Deployment != nil {
			meta = &o.Deployment.ObjectMeta
		} else {
			meta = &o.ReplicaSet.ObjectMeta
		}
		// Observation order without the reader's clamping.
		at := scenario.ObservedAt(meta)
		if at.Before(last) {
			t.Errorf("%s (line %d) observed at %s, before the object above it (%s)", meta.Name, o.Line, at, last)
		}
		last = at
	}
}

// series is one series of metrics.om as written.
type series struct {
	labels  string
	samples [][2]int64 // value, timestamp
}

func readSeries(t *testing.T, path string) []series {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []series
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndex(line, "} ")
		fields := strings.Fields(line[i+2:])
		v, _ := strconv.ParseInt(fields[0], 10, 64)
		ts, _ := strconv.ParseInt(fields[1], 10, 64)
		if len(out) == 0 || out[len(out)-1].labels != line[:i+1] {
			out = append(out, series{labels: line[:i+1]})
		}
		out[len(out)-1].samples = append(out[len(out)-1].samples, [2]int64{v, ts})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSeriesShape checks what the replay format promises of metrics.om:
// each series written once, in time order, counters never falling, new
// pods counting from zero, old pods' series ending with their ReplicaSet.
func TestSeriesShape(t *testing.T) {
	dir := t.TempDir()
	if _, err := MLI6574().Write(dir); err != nil {
		t.Fatal(err)
	}
	all := readSeries(t, filepath.Join(dir, MetricsFile))
	seen := map[string]bool{}
	podRe := regexp.MustCompile(`pod="([^"]+)"`)
	codeRe := regexp.MustCompile(`response_code="([^"]+)"`)
	reporters := map[string]int{}
	for _, s := range all {
		if seen[s.labels] {
			t.Fatalf("series written in two places: %s", s.labels)
		}
		seen[s.labels] = true
		for i := 1; i < len(s.samples); i++ {
			if s.samples[i][1] != s.samples[i-1][1]+15 {
				t.Fatalf("%s: samples at %d then %d, want every 15 s", s.labels, s.samples[i-1][1], s.samples[i][1])
			}
			if s.samples[i][0] < s.samples[i-1][0] {
				t.Fatalf("%s: counter falls from %d to %d", s.labels, s.samples[i-1][0], s.samples[i][0])
			}
		}
		for _, r := range []string{"destination", "source"} {
			if strings.Contains(s.labels, `reporter="`+r+`"`) {
				reporters[r]++
			}
		}
		pod := podRe.FindStringSubmatch(s.labels)[1]
		code := codeRe.FindStringSubmatch(s.labels)[1]
		first, last := s.samples[0], s.samples[len(s.samples)-1]
		switch {
		case strings.HasPrefix(pod, "model-engine-") && first[1] > 1777072800:
			// A pod started during the recording counts from zero: its
			// first sample holds at most one scrape's traffic.
			if code == "200" && first[0] > 400 {
				t.Errorf("%s: new pod starts at %d", s.labels, first[0])
			}
		case strings.HasPrefix(pod, "gateway-") || strings.HasPrefix(pod, "batch-api-"):
			if first[1] != 1777072800 || last[1] != 1777078800 {
				t.Errorf("%s: neighbour series spans %d..%d, want the whole window", s.labels, first[1], last[1])
			}
		}
		if code == "500" && !strings.HasPrefix(pod, "model-engine-") {
			t.Errorf("%s: a neighbour answers 500", s.labels)
		}
	}
	if reporters["destination"] == 0 || reporters["destination"] != reporters["source"] {
		t.Errorf("series by reporter: %v, want as many source as destination", reporters)
	}
}

func TestInvalidDescriptions(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ok := WorkloadSpec{Namespace: "ns", Name: "app", Image: "img:1", Replicas: 1, RequestRate: 1,
		Created: start.Add(-time.Hour), Manager: "helm"}
	tests := []struct {
		name  string
		build func() *Scenario
		want  string
	}{
		{"end before start", func() *Scenario {
			return New(Options{Start: start, End: start.Add(-time.Minute)})
		}, "must be after start"},
		{"step not whole seconds", func() *Scenario {
			return New(Options{Start: start, End: start.Add(time.Hour), Step: 1500 * time.Millisecond})
		}, "whole number of seconds"},
		{"no replicas", func() *Scenario {
			s := New(Options{Start: start, End: start.Add(time.Hour)})
			spec := ok
			spec.Replicas = 0
			s.AddWorkload(spec)
			return s
		}, "replicas must be at least 1"},
		{"duplicate workload", func() *Scenario {
			s := New(Options{Start: start, End: start.Add(time.Hour)})
			s.AddWorkload(ok)
			s.AddWorkload(ok)
			return s
		}, "added twice"},
		{"failure code", func() *Scenario {
			s := New(Options{Start: start, End: start.Add(time.Hour)})
			s.AddWorkload(ok).Fail(Failure{Code: "5xx", Ratio: 0.1})
			return s
		}, "want three digits"},
		{"failure ratio", func() *Scenario {
			s := New(Options{Start: start, End: start.Add(time.Hour)})
			s.AddWorkload(ok).Fail(Failure{Code: "500", Ratio: 1.5})
			return s
		}, "must be in [0,1]"},
		{"changes too close", func() *Scenario {
			s := New(Options{Start: start, End: start.Add(time.Hour)})
			s.AddWorkload(ok).SetImage(start, "kubectl-set", "img:2").SetImage(start.Add(10*time.Second), "kubectl-set", "img:3")
			return s
		}, "more than the rollout delay"},
		{"same image", func() *Scenario {
			s := New(Options{Start: start, End: start.Add(time.Hour)})
			s.AddWorkload(ok).SetImage(start, "kubectl-set", "img:1")
			return s
		}, "already running"},
		{"undo to unknown revision", func() *Scenario {
			s := New(Options{Start: start, End: start.Add(time.Hour)})
			s.AddWorkload(ok).SetImage(start, "kubectl-set", "img:2").RolloutUndo(start.Add(time.Minute), "kubectl", 5)
			return s
		}, "no earlier revision 5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.build().Write(t.TempDir())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Write: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// TestRolloutUndoReusesReplicaSet checks the ReplicaSet history a manual
// rollback leaves: the old ReplicaSet takes the next revision and
// remembers the one it had.
func TestRolloutUndoReusesReplicaSet(t *testing.T) {
	dir := t.TempDir()
	if _, err := MLI6574().Write(dir); err != nil {
		t.Fatal(err)
	}
	objs, err := scenario.ReadObjectsFile(filepath.Join(dir, ObjectsFile))
	if err != nil {
		t.Fatal(err)
	}
	var rs1, dep string
	for _, o := range objs {
		if r := o.ReplicaSet; r != nil && r.Labels["app"] == "model-engine" && r.Annotations[annRevision] == "1" {
			rs1 = r.Name
		}
	}
	for _, o := range objs {
		if r := o.ReplicaSet; r != nil && r.Name == rs1 && r.Annotations[annRevision] == "8" {
			if h := r.Annotations[annRevisionHistory]; h != "1" || *r.Spec.Replicas != 2 {
				t.Errorf("restored ReplicaSet: history %q, replicas %d; want history 1, 2 replicas", h, *r.Spec.Replicas)
			}
			dep = "found"
		}
		if d := o.Deployment; d != nil && d.Name == "model-engine" && d.Annotations[annRevision] == "8" {
			if img := d.Spec.Template.Spec.Containers[0].Image; img != mliGood {
				t.Errorf("revision 8 runs %s, want %s", img, mliGood)
			}
			var managers []string
			for _, mf := range d.ManagedFields {
				managers = append(managers, mf.Manager)
			}
			slices.Sort(managers)
			if got := strings.Join(managers, ","); got != "helm,kube-controller-manager,kubectl" {
				t.Errorf("revision 8 managers %s, want helm,kube-controller-manager,kubectl (kubectl-set's entry emptied)", got)
			}
		}
	}
	if dep == "" {
		t.Errorf("ReplicaSet %s never observed at revision 8", rs1)
	}
}

func TestImages(t *testing.T) {
	hex40 := regexp.MustCompile(`:[0-9a-f]{40}$`)
	imgs := []string{mliGood, mliBroken}
	for _, p := range mliPatches() {
		imgs = append(imgs, p.image)
	}
	for _, img := range imgs {
		if !hex40.MatchString(img) {
			t.Errorf("%s: want a 40-hex-digit tag", img)
		}
	}
}

// TestObjectInvariants checks what every observation carries, as a watch
// of a real cluster shows it.
func TestObjectInvariants(t *testing.T) {
	dir := t.TempDir()
	if _, err := MLI6574().Write(dir); err != nil {
		t.Fatal(err)
	}
	objs, err := scenario.ReadObjectsFile(filepath.Join(dir, ObjectsFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if d := o.Deployment; d != nil {
			if d.Annotations[annRevision] == "" {
				t.Errorf("Deployment %s (line %d): no revision annotation", d.Name, o.Line)
			}
			if !slices.ContainsFunc(d.ManagedFields, func(mf metav1.ManagedFieldsEntry) bool {
				return mf.Manager == managerController && mf.Subresource == "status"
			}) {
				t.Errorf("Deployment %s (line %d): no kube-controller-manager status entry", d.Name, o.Line)
			}
			continue
		}
		rs := o.ReplicaSet
		if rs.Annotations[annRevision] == "" {
			t.Errorf("ReplicaSet %s (line %d): no revision annotation", rs.Name, o.Line)
		}
		if h := rs.Labels[labelHash]; h == "" || !strings.HasSuffix(rs.Name, "-"+h) {
			t.Errorf("ReplicaSet %s (line %d): pod-template-hash %q does not end its name", rs.Name, o.Line, h)
		}
		type owner struct {
			Kind       string
			Controller bool
		}
		var owners []owner
		for _, r := range rs.OwnerReferences {
			owners = append(owners, owner{r.Kind, r.Controller != nil && *r.Controller})
		}
		if diff := cmp.Diff([]owner{{"Deployment", true}}, owners); diff != "" {
			t.Errorf("ReplicaSet %s (line %d): owner references, want its Deployment as controller (-want +got):\n%s", rs.Name, o.Line, diff)
		}
	}
}

func TestEscapeLabel(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{`a"b`, `a\"b`},
		{`a\b`, `a\\b`},
		{"a\nb", `a\nb`},
	}
	for _, tt := range tests {
		if got := escapeLabel(tt.in); got != tt.want {
			t.Errorf("escapeLabel(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
