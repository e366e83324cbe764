package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/sentinel-sre/sentinel/kube"
)

// Usage, from the repository root:
//
//	scripts/testenv.sh exec -- go run ./test/scalebench
//	scripts/testenv.sh exec -- go run ./test/scalebench -deployments 200 -polls 5
func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "scalebench:", err)
		os.Exit(1)
	}
}

// options are scalebench's flags.
type options struct {
	shape    Shape
	workers  int           // parallel creates
	polls    int           // engine polls to time
	settle   time.Duration // how long to watch sentinel once ready
	sentinel string        // the binary to run; empty builds ./cmd/sentinel
	populate bool          // create the objects rather than reuse them
	envs     []string      // one run of sentinel per entry, each VAR=VALUE,...
	keep     bool          // keep the working directory
	history  time.Duration // traffic served before sentinel starts
}

// parseFlags reads scalebench's command line.
func parseFlags(args []string) (options, error) {
	fs := flag.NewFlagSet("scalebench", flag.ContinueOnError)
	var o options
	fs.IntVar(&o.shape.Deployments, "deployments", 5000, "Deployments to create")
	fs.IntVar(&o.shape.ReplicaSets, "replicasets", 10, "ReplicaSets per Deployment")
	fs.IntVar(&o.shape.Namespaces, "namespaces", 50, "namespaces to spread them over")
	fs.IntVar(&o.workers, "workers", 32, "parallel creates")
	fs.IntVar(&o.polls, "polls", 20, "engine polls to time")
	fs.DurationVar(&o.settle, "settle", time.Minute, "how long to watch sentinel after it is ready")
	fs.StringVar(&o.sentinel, "sentinel", "", "the sentinel binary to run; empty builds ./cmd/sentinel")
	fs.BoolVar(&o.populate, "populate", true, "create the objects; false runs against those a previous run made")
	fs.Func("env", "comma-separated VAR=VALUE added to sentinel's environment, e.g. GOMEMLIMIT=200MiB; repeated, sentinel is run once with each, one after another, the traffic going on",
		func(v string) error { o.envs = append(o.envs, v); return nil })
	fs.BoolVar(&o.keep, "keep", false, "keep the working directory (sentinel's config and log) and print its path")
	fs.DurationVar(&o.history, "history", 15*time.Minute, "metrics history to serve every workload's traffic for before sentinel starts (its warm-up replays it); 0 serves none")
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	return o, nil
}

// run populates the cluster, runs sentinel against it and times
// engine.Poll, printing each figure as it is measured.
func run(ctx context.Context, args []string) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	kc, prom := os.Getenv("SENTINEL_TEST_KUBECONFIG"), os.Getenv("SENTINEL_TEST_PROMETHEUS_URL")
	if kc == "" || prom == "" {
		return fmt.Errorf("SENTINEL_TEST_KUBECONFIG and SENTINEL_TEST_PROMETHEUS_URL are not set: run under scripts/testenv.sh exec")
	}
	client, err := newClient(kc)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "scalebench-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Printf("working directory (kept): %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	bin := o.sentinel
	if bin == "" {
		if bin, err = BuildSentinel(ctx, dir); err != nil {
			return err
		}
	}

	fmt.Printf("shape: %s\n", o.shape)
	served := time.Now()
	if o.history > 0 {
		stop, err := serveHistory(ctx, o.shape, prom)
		if err != nil {
			return err
		}
		defer stop()
	}
	if o.populate {
		if err := populate(ctx, client, o.shape, o.workers); err != nil {
			return err
		}
	}
	if o.history > 0 {
		if err := waitHistory(ctx, served, o.history); err != nil {
			return err
		}
	}
	if err := runSentinels(ctx, bin, dir, kc, prom, o.settle, o.envs); err != nil {
		return err
	}
	return pollCost(ctx, client, o.shape, o.polls)
}

// newClient is a client of the test API server, allowed the request
// rate populating needs.
func newClient(kubeconfig string) (kubernetes.Interface, error) {
	restCfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", kubeconfig, err)
	}
	restCfg.QPS, restCfg.Burst = 2000, 4000
	client, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return client, nil
}

// serveHistory serves the shape's traffic for the test Prometheus to
// scrape (ServeTraffic); the returned function stops it.
func serveHistory(ctx context.Context, s Shape, prom string) (func(), error) {
	file := os.Getenv("SENTINEL_TEST_PROMETHEUS_CONFIG")
	if file == "" {
		return nil, errNoPrometheusConfig
	}
	return ServeTraffic(ctx, s, prom, file)
}

// populate fills the cluster with s's objects and reports how fast.
func populate(ctx context.Context, client kubernetes.Interface, s Shape, workers int) error {
	t0 := time.Now()
	made, err := Populate(ctx, client, s, workers)
	took := time.Since(t0)
	fmt.Printf("populate: %d objects in %v (%.0f objects/s, %d workers)\n", made, took.Round(100*time.Millisecond),
		float64(made)/took.Seconds(), workers)
	return err
}

// runSentinels runs `sentinel run` once per entry of envs (once without
// extra environment when there is none) and reports each run.
func runSentinels(ctx context.Context, bin, dir, kc, prom string, settle time.Duration, envs []string) error {
	if len(envs) == 0 {
		envs = []string{""}
	}
	for _, env := range envs {
		var extra []string
		if env != "" {
			extra = strings.Split(env, ",")
		}
		d, err := RunSentinel(ctx, bin, dir, kc, prom, settle, extra)
		if err != nil {
			return err
		}
		fmt.Printf("sentinel run (env %q): %s\n", extra, d)
	}
	return nil
}

// pollCost lists what the cluster holds, trims it as the watcher does,
// and times engine.Poll over every workload.
func pollCost(ctx context.Context, client kubernetes.Interface, s Shape, polls int) error {
	deps, rss, err := list(ctx, client)
	if err != nil {
		return err
	}
	fmt.Printf("after the run: %d Deployments, %d ReplicaSets (the controller deleted %d)\n", len(deps), len(rss),
		s.Deployments*s.ReplicaSets-len(rss))
	for _, d := range deps {
		_, _ = kube.Trim(d)
	}
	for _, rs := range rss {
		_, _ = kube.Trim(rs)
	}
	at := time.Now().UTC().Truncate(time.Minute)
	e := NewEngine(Observations(deps, currentHashes(rss)), deps, rss, at)
	cost, err := MeasurePolls(ctx, e, at, polls)
	if err != nil {
		return err
	}
	fmt.Printf("engine.Poll of %d workloads: %s\n", len(deps), cost)
	return nil
}

// list reads every Deployment and ReplicaSet from the API server.
func list(ctx context.Context, client kubernetes.Interface, namespaces ...string) ([]*appsv1.Deployment, []*appsv1.ReplicaSet, error) {
	if len(namespaces) == 0 {
		namespaces = []string{metav1.NamespaceAll}
	}
	var deps []*appsv1.Deployment
	var rss []*appsv1.ReplicaSet
	for _, ns := range namespaces {
		dl, err := client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, nil, fmt.Errorf("list deployments: %w", err)
		}
		rl, err := client.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, nil, fmt.Errorf("list replicasets: %w", err)
		}
		for i := range dl.Items {
			deps = append(deps, &dl.Items[i])
		}
		for i := range rl.Items {
			rss = append(rss, &rl.Items[i])
		}
	}
	return deps, rss, nil
}
