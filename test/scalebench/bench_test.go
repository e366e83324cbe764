package main

import (
	"runtime"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/history"
	"github.com/sentinel-sre/sentinel/kube"
	"github.com/sentinel-sre/sentinel/workload"
)

// The offline benchmarks build the objects the command creates, without
// an API server (so without managedFields), and feed them to the engine
// as the watcher would, trimmed:
//
//	go test ./test/scalebench -run '^$' -bench . -benchmem

var benchShape = Shape{Namespaces: 50, Deployments: 5000, ReplicaSets: 10}

var benchAt = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// objects builds s's objects, trimmed as the watcher hands them on.
func objects(s Shape) ([]*appsv1.Deployment, []*appsv1.ReplicaSet) {
	var deps []*appsv1.Deployment
	var rss []*appsv1.ReplicaSet
	for i := range s.Deployments {
		d := s.Deployment(i)
		d.UID = "uid"
		d.ResourceVersion = "1"
		for rev := 1; rev <= s.ReplicaSets; rev++ {
			rs := s.ReplicaSet(d, rev)
			rs.ResourceVersion = "1"
			_, _ = kube.Trim(rs)
			rss = append(rss, rs)
		}
		_, _ = kube.Trim(d)
		deps = append(deps, d)
	}
	return deps, rss
}

// BenchmarkPoll5000 is one poll of 5,000 healthy workloads, each served by
// its current revision, with 10 ReplicaSets each in the history.
func BenchmarkPoll5000(b *testing.B) {
	deps, rss := objects(benchShape)
	e := NewEngine(Observations(deps, currentHashes(rss)), deps, rss, benchAt)
	step := 15 * time.Second
	if err := e.Poll(b.Context(), benchAt); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		if err := e.Poll(b.Context(), benchAt.Add(time.Duration(i+1)*step)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWarmUp5000 is a replica's warm-up over 5,000 healthy workloads:
// run.warm_up (15 m) of history, one answer per 15 s poll instant, replayed
// by a fresh engine before its first live poll. The source answers at once,
// so this is sentinel's share of the time to ready; the metrics source's
// answers come on top.
func BenchmarkWarmUp5000(b *testing.B) {
	deps, rss := objects(benchShape)
	src := Observations(deps, currentHashes(rss))
	for range b.N {
		b.StopTimer()
		e := NewEngine(src, deps, rss, benchAt)
		b.StartTimer()
		e.WarmUp(b.Context(), benchAt)
	}
}

// BenchmarkObserve50000 feeds 5,000 Deployments and 50,000 ReplicaSets to
// a fresh engine as the watcher does (each object let go once observed:
// the watcher keeps no cache), polls
// every workload serving healthily from its current revision for
// run.warm_up, and reports the heap they keep after a collection.
func BenchmarkObserve50000(b *testing.B) {
	for range b.N {
		runtime.GC()
		before := heapInuse()
		var src observations
		e := NewEngine(&src, nil, nil, benchAt)
		var deps []*appsv1.Deployment
		hashes := map[workload.Ref]string{}
		for i := range benchShape.Deployments {
			d := benchShape.Deployment(i)
			d.UID, d.ResourceVersion = "uid", "1"
			for rev := 1; rev <= benchShape.ReplicaSets; rev++ {
				rs := benchShape.ReplicaSet(d, rev)
				rs.ResourceVersion = "1"
				_, _ = kube.Trim(rs)
				e.ObserveReplicaSet(rs)
				hashes[workload.Ref{Namespace: d.Namespace, Name: d.Name}] = rs.Labels[history.PodTemplateHash]
			}
			_, _ = kube.Trim(d)
			e.ObserveDeployment(d, benchAt)
			deps = append(deps, d)
		}
		src = Observations(deps, hashes)
		deps = nil
		clear(hashes)
		step := config.Default().Detection.PollInterval
		for at := benchAt; at.Before(benchAt.Add(config.Default().Run.WarmUp)); at = at.Add(step) {
			if err := e.Poll(b.Context(), at); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		b.ReportMetric(float64(heapInuse()-before)/(1<<20), "retained-MiB")
		runtime.KeepAlive(e)
	}
}

func heapInuse() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}
