package main

import (
	"context"
	"fmt"
	"strconv"
	"syscall"
	"time"

	"go.uber.org/zap"
	appsv1 "k8s.io/api/apps/v1"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/detector"
	"github.com/sentinel-sre/sentinel/engine"
	"github.com/sentinel-sre/sentinel/history"
	"github.com/sentinel-sre/sentinel/incident"
	"github.com/sentinel-sre/sentinel/rollback"
	"github.com/sentinel-sre/sentinel/workload"
)

// observations is a source answering the same healthy traffic for every
// workload at every instant, split by revision as Istio metrics with the
// pod_template_hash label are: the current revision's pods serve it all.
type observations []detector.Observation

func (o observations) Observe(context.Context, time.Time) ([]detector.Observation, error) {
	return o, nil
}

// Observations is one healthy observation per Deployment in deps, served
// by its current revision's ReplicaSet (hashes by workload).
func Observations(deps []*appsv1.Deployment, hashes map[workload.Ref]string) observations {
	out := make(observations, 0, len(deps))
	for i, d := range deps {
		w := workload.Ref{Namespace: d.Namespace, Name: d.Name}
		req := float64(1 + i%20)
		out = append(out, detector.Observation{Workload: w, Requests: req, Failures: req * 0.002,
			Revisions: []detector.RevisionTraffic{{Revision: hashes[w], Requests: req, Failures: req * 0.002}}})
	}
	return out
}

// quiet is an executor and notifier that does nothing: healthy polls
// neither page nor roll back.
type quiet struct{}

func (quiet) Rollback(context.Context, *rollback.Plan) error { return nil }
func (quiet) Verify(context.Context, *rollback.Plan) error   { return nil }
func (quiet) Notify(context.Context, incident.Action) error  { return nil }

// NewEngine is an engine with sentinel's default configuration over src,
// fed deps and rss as the watcher would feed them.
func NewEngine(src engine.Source, deps []*appsv1.Deployment, rss []*appsv1.ReplicaSet, at time.Time) *engine.Engine {
	e := engine.New(config.Default(), src, quiet{}, quiet{}, zap.NewNop())
	for _, rs := range rss {
		e.ObserveReplicaSet(rs)
	}
	for _, d := range deps {
		e.ObserveDeployment(d, at)
	}
	return e
}

// currentHashes maps each workload to its current ReplicaSet's
// pod-template-hash: the one with the highest revision.
func currentHashes(rss []*appsv1.ReplicaSet) map[workload.Ref]string {
	out := map[workload.Ref]string{}
	best := map[workload.Ref]int64{}
	for _, rs := range rss {
		if len(rs.OwnerReferences) == 0 {
			continue
		}
		w := workload.Ref{Namespace: rs.Namespace, Name: rs.OwnerReferences[0].Name}
		rev, _ := strconv.ParseInt(rs.Annotations[history.RevisionAnnotation], 10, 64)
		if rev > best[w] {
			best[w], out[w] = rev, rs.Labels[history.PodTemplateHash]
		}
	}
	return out
}

// PollCost is what polls cost: CPU (user + system, every goroutine of the
// process, the garbage collector included) and wall time per poll.
type PollCost struct {
	Polls     int
	CPU, Wall time.Duration
}

func (c PollCost) String() string {
	return fmt.Sprintf("%d polls: %v CPU, %v wall per poll", c.Polls,
		(c.CPU / time.Duration(c.Polls)).Round(100*time.Microsecond), (c.Wall / time.Duration(c.Polls)).Round(100*time.Microsecond))
}

// MeasurePolls runs n polls, one poll interval apart from start, and
// returns their cost. The first poll is not counted: it settles every
// workload's attribution once.
func MeasurePolls(ctx context.Context, e *engine.Engine, start time.Time, n int) (PollCost, error) {
	step := config.Default().Detection.PollInterval
	if err := e.Poll(ctx, start); err != nil {
		return PollCost{}, fmt.Errorf("first poll: %w", err)
	}
	cpu0, wall0 := cpuTime(), time.Now()
	for i := 1; i <= n; i++ {
		if err := e.Poll(ctx, start.Add(time.Duration(i)*step)); err != nil {
			return PollCost{}, fmt.Errorf("poll %d: %w", i, err)
		}
	}
	return PollCost{Polls: n, CPU: cpuTime() - cpu0, Wall: time.Since(wall0)}, nil
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
