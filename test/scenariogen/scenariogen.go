// Package scenariogen generates replay scenarios — the metrics.om and
// objects.yaml that `sentinel simulate` replays — from a description of
// workloads, their traffic and the changes made to them (New,
// Scenario.AddWorkload, the Workload methods, then Write). The same
// description always gives the same bytes. See docs/scenarios.md.
package scenariogen

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sentinel-sre/sentinel/config"
)

// Version changes whenever the generator's output for an unchanged
// description changes, so caches keyed by Key are invalidated.
const Version = 2

// Files a scenario directory holds; ConfigFile only for a mesh other than
// Istio's sidecars.
const (
	MetricsFile = "metrics.om"
	ObjectsFile = "objects.yaml"
	ConfigFile  = "config.yaml"
)

// Reporters of Istio's standard metrics.
const (
	ReporterDestination = "destination"
	ReporterSource      = "source"
)

// Options describe the recording as a whole.
type Options struct {
	// Start and End are the first and last scrape, inclusive; Start must be
	// on a whole second.
	Start, End time.Time
	// Step is the scrape interval, a whole number of seconds (default 15s).
	Step time.Duration
	// Seed makes the traffic noise; the same seed gives the same bytes.
	Seed uint64
	// Reporters are the reporter label values written for every pod
	// (default destination and source, as Prometheus scrapes both sides
	// of the mesh).
	Reporters []string
	// MinimalLabels writes only destination_workload,
	// destination_workload_namespace, pod, reporter and response_code
	// instead of Istio's full label set; large recordings stay smaller.
	MinimalLabels bool
	// RolloutDelay is how long after a template change the new pods start
	// serving and the old ones stop (default 20s).
	RolloutDelay time.Duration
	// Mesh is whose series are written (config.Mesh*): Istio's sidecars
	// (empty or istio; Reporters apply), the waypoint of each namespace
	// under istio-ambient (one series per workload and outcome, labelled
	// with the waypoint's pod), or each pod's Linkerd proxy, inbound, with
	// the labels linkerd-viz's scrape adds. A mesh other than Istio's
	// sidecars also writes config.yaml naming it.
	Mesh string
}

// Scenario is a recording being described. Mistakes in the description
// are collected and reported by Write.
type Scenario struct {
	opts      Options
	workloads []*Workload
	errs      []error
}

// WorkloadSpec describes a Deployment as first created.
type WorkloadSpec struct {
	Namespace, Name string
	// Container is the single container's name (default Name).
	Container string
	Image     string
	// Replicas is the number of pods of every revision.
	Replicas int32
	// RequestRate is the workload's traffic in requests per second, shared
	// evenly by its pods.
	RequestRate float64
	// Created is when the Deployment was created.
	Created time.Time
	// Manager is the field manager that created it; "helm" also adds the
	// labels and annotations a Helm release carries.
	Manager string
	// Source is the source_workload of its traffic (default
	// istio-ingressgateway in istio-system).
	Source, SourceNamespace string
	// RollingStep makes every change a rolling update: one new pod starts
	// serving every RollingStep (the first a rollout delay after the
	// change), replacing one old pod, and the ReplicaSets scale step by
	// step. Zero switches all pods at once.
	RollingStep time.Duration
	// GRPC makes its requests gRPC calls: each answers a gRPC status ("0"
	// when OK) as well as its HTTP status.
	GRPC bool
}

// Failure makes a share of a workload's requests answer Code, or for a
// gRPC workload the gRPC status GRPC.
type Failure struct {
	// Revisions are the Deployment revisions whose pods fail; empty means
	// every revision.
	Revisions []int64
	// From and To bound the failure in time, [From, To); a zero bound is
	// open.
	From, To time.Time
	// Code is the response code, e.g. "500" or "404"; a gRPC failure's
	// defaults to 200, as Envoy reports a failed call.
	Code string
	// GRPC is the gRPC status of a gRPC workload's failure, e.g. "14"
	// (UNAVAILABLE); empty for an HTTP workload.
	GRPC string
	// Ratio is the share of requests, in [0, 1]; the noise keeps it
	// within a fifth of its distance to 0 or 1.
	Ratio float64
}

// Workload is a Deployment of the scenario.
type Workload struct {
	spec     WorkloadSpec
	failures []Failure
	changes  []change
	s        *Scenario
}

// change is one edit of the Deployment's pod template.
type change struct {
	at      time.Time
	manager string
	image   string // SetImage: the new image
	undoTo  int64  // RolloutUndo: the revision restored
}

// New starts a scenario.
func New(opts Options) *Scenario {
	if opts.Step == 0 {
		opts.Step = 15 * time.Second
	}
	if len(opts.Reporters) == 0 {
		opts.Reporters = []string{ReporterDestination, ReporterSource}
	}
	if opts.RolloutDelay == 0 {
		opts.RolloutDelay = 20 * time.Second
	}
	opts.Start, opts.End = opts.Start.UTC(), opts.End.UTC()
	s := &Scenario{opts: opts}
	if !opts.End.After(opts.Start) {
		s.errorf("end %s must be after start %s", opts.End.Format(time.RFC3339), opts.Start.Format(time.RFC3339))
	}
	if opts.Start.Nanosecond() != 0 {
		s.errorf("start %s must be on a whole second", opts.Start.Format(time.RFC3339Nano))
	}
	if opts.Step <= 0 || opts.Step%time.Second != 0 {
		s.errorf("step %s must be a positive whole number of seconds", opts.Step)
	}
	if opts.RolloutDelay < 0 {
		s.errorf("rollout delay %s must not be negative", opts.RolloutDelay)
	}
	for _, r := range opts.Reporters {
		if r == "" {
			s.errorf("reporters: empty reporter")
		}
	}
	switch opts.Mesh {
	case "", config.MeshIstio, config.MeshIstioAmbient, config.MeshLinkerd:
	default:
		s.errorf("mesh %q: want %s", opts.Mesh, strings.Join(config.Meshes(), ", "))
	}
	return s
}

func (s *Scenario) errorf(format string, args ...any) {
	s.errs = append(s.errs, fmt.Errorf(format, args...))
}

// AddWorkload adds a Deployment, created at spec.Created with revision 1.
func (s *Scenario) AddWorkload(spec WorkloadSpec) *Workload {
	if spec.Container == "" {
		spec.Container = spec.Name
	}
	if spec.Source == "" {
		spec.Source, spec.SourceNamespace = "istio-ingressgateway", "istio-system"
	}
	spec.Created = spec.Created.UTC()
	w := &Workload{spec: spec, s: s}
	id := spec.Namespace + "/" + spec.Name
	check := func(bad bool, format string, args ...any) {
		if bad {
			s.errorf("workload %s: "+format, append([]any{id}, args...)...)
		}
	}
	check(spec.Namespace == "" || spec.Name == "", "namespace and name are required")
	check(spec.Image == "", "image is required")
	check(spec.Replicas < 1, "replicas must be at least 1, got %d", spec.Replicas)
	check(!(spec.RequestRate >= 0), "request rate must not be negative, got %g", spec.RequestRate)
	check(spec.Manager == "", "manager is required")
	check(spec.Created.IsZero(), "creation time is required")
	check(spec.RollingStep < 0, "rolling step must not be negative, got %s", spec.RollingStep)
	for _, o := range s.workloads {
		if o.spec.Namespace == spec.Namespace && o.spec.Name == spec.Name {
			s.errorf("workload %s: added twice", id)
		}
	}
	s.workloads = append(s.workloads, w)
	return w
}

func (w *Workload) id() string { return w.spec.Namespace + "/" + w.spec.Name }

// Fail adds a failure; failures that apply at once add up.
func (w *Workload) Fail(f Failure) *Workload {
	if f.Code == "" && f.GRPC != "" {
		f.Code = okCode
	}
	switch {
	case len(f.Code) != 3 || strings.Trim(f.Code, "0123456789") != "":
		w.s.errorf("workload %s: failure code %q: want three digits", w.id(), f.Code)
	case w.spec.GRPC != (f.GRPC != "") || strings.Trim(f.GRPC, "0123456789") != "":
		w.s.errorf("workload %s: gRPC status %q: a gRPC workload's failures have a number, an HTTP workload's none", w.id(), f.GRPC)
	case outcomeOf(f) == w.ok():
		w.s.errorf("workload %s: failure %s: the remainder of the traffic already answers it", w.id(), outcomeOf(f))
	case !(f.Ratio >= 0 && f.Ratio <= 1):
		w.s.errorf("workload %s: failure ratio must be in [0,1], got %g", w.id(), f.Ratio)
	case !f.To.IsZero() && !f.To.After(f.From):
		w.s.errorf("workload %s: failure %s ends before it starts", w.id(), f.Code)
	}
	f.From, f.To = f.From.UTC(), f.To.UTC()
	f.Revisions = slices.Clone(f.Revisions)
	w.failures = append(w.failures, f)
	return w
}

// SetImage changes the container's image at at, as `kubectl set image`
// (manager kubectl-set) or any other field manager does: the Deployment
// gets the next revision and a new ReplicaSet.
func (w *Workload) SetImage(at time.Time, manager, image string) *Workload {
	if image == "" {
		w.s.errorf("workload %s: set image at %s: image is required", w.id(), at.UTC().Format(time.RFC3339))
	}
	return w.addChange(change{at: at.UTC(), manager: manager, image: image})
}

// RolloutUndo restores revision's template at at, as `kubectl rollout
// undo --to-revision` (manager kubectl) does: that revision's ReplicaSet
// scales back up and takes the next revision number.
func (w *Workload) RolloutUndo(at time.Time, manager string, revision int64) *Workload {
	return w.addChange(change{at: at.UTC(), manager: manager, undoTo: revision})
}

func (w *Workload) addChange(c change) *Workload {
	prev := w.spec.Created
	if n := len(w.changes); n > 0 {
		prev = w.changes[n-1].at
	}
	if c.manager == "" {
		w.s.errorf("workload %s: change at %s: manager is required", w.id(), c.at.Format(time.RFC3339))
	}
	if c.at.Sub(prev) <= w.s.opts.RolloutDelay {
		w.s.errorf("workload %s: change at %s: must come more than the rollout delay (%s) after the previous change or creation",
			w.id(), c.at.Format(time.RFC3339), w.s.opts.RolloutDelay)
	}
	w.changes = append(w.changes, c)
	return w
}

// Key identifies the scenario's output: the same key, the same bytes. It
// is meant for caching generated recordings.
func (s *Scenario) Key() string {
	h := sha256.New()
	fmt.Fprintf(h, "v%d %+v\n", Version, s.opts)
	for _, w := range s.workloads {
		fmt.Fprintf(h, "%+v %+v %+v\n", w.spec, w.failures, w.changes)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// Summary describes what Write wrote.
type Summary struct {
	// Series and Samples count metrics.om's series and samples.
	Series, Samples int
	// Objects counts objects.yaml's documents.
	Objects int
	// MetricsBytes and ObjectsBytes are the files' sizes.
	MetricsBytes, ObjectsBytes int64
}

// Write writes metrics.om and objects.yaml into dir, which must exist.
func (s *Scenario) Write(dir string) (Summary, error) {
	if err := s.Err(); err != nil {
		return Summary{}, err
	}
	var sum Summary
	err := writeFile(filepath.Join(dir, MetricsFile), func(w *bufio.Writer) error {
		var err error
		sum.Series, sum.Samples, err = s.writeMetrics(w)
		return err
	})
	if err != nil {
		return Summary{}, err
	}
	err = writeFile(filepath.Join(dir, ObjectsFile), func(w *bufio.Writer) error {
		var err error
		sum.Objects, err = s.writeObjects(w)
		return err
	})
	if err != nil {
		return Summary{}, err
	}
	if m := s.opts.Mesh; m != "" && m != config.MeshIstio {
		err := writeFile(filepath.Join(dir, ConfigFile), func(w *bufio.Writer) error {
			_, err := fmt.Fprintf(w, "# The mesh whose series metrics.om holds.\nmetrics:\n  mesh: %s\n", m)
			return err
		})
		if err != nil {
			return Summary{}, err
		}
	}
	for _, f := range []struct {
		name string
		size *int64
	}{{MetricsFile, &sum.MetricsBytes}, {ObjectsFile, &sum.ObjectsBytes}} {
		fi, err := os.Stat(filepath.Join(dir, f.name))
		if err != nil {
			return Summary{}, fmt.Errorf("stat generated file: %w", err)
		}
		*f.size = fi.Size()
	}
	return sum, nil
}

// Err reports every mistake in the description so far.
func (s *Scenario) Err() error {
	errs := slices.Clone(s.errs)
	for _, w := range s.workloads {
		if _, err := w.plan(); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("scenario: %w", errors.Join(errs...))
	}
	return nil
}

func writeFile(path string, write func(*bufio.Writer) error) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("generate %s: %w", filepath.Base(path), err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("generate %s: %w", filepath.Base(path), cerr)
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	if err := write(bw); err != nil {
		return fmt.Errorf("generate %s: %w", filepath.Base(path), err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("generate %s: %w", filepath.Base(path), err)
	}
	return nil
}
