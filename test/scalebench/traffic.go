package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"
)

// traffic plays the Istio sidecars of every workload of a shape: the
// istio_requests_total counters of each Deployment's current revision
// (pod_template_hash of revision s.ReplicaSets), healthy, at 1–20 req/s
// from when it started. Scraped by the test Prometheus while the cluster
// fills, it gives sentinel's warm-up the metrics history a production
// cluster has: 5,000 workloads' answers at each instant it replays.
type traffic struct {
	s     Shape
	start time.Time
}

func (tr traffic) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	secs := time.Since(tr.start).Seconds()
	b := bufio.NewWriterSize(w, 64<<10)
	defer b.Flush()
	fmt.Fprintln(b, "# TYPE istio_requests_total counter")
	for i := range tr.s.Deployments {
		ns, name := tr.s.Workload(i)
		rate := float64(1 + i%20)
		labels := fmt.Sprintf(`destination_workload=%q,destination_workload_namespace=%q,pod_template_hash=%q,reporter="destination"`,
			name, ns, hash(name, tr.s.ReplicaSets))
		fmt.Fprintf(b, "istio_requests_total{%s,response_code=\"200\"} %.3f\n", labels, 0.998*rate*secs)
		fmt.Fprintf(b, "istio_requests_total{%s,response_code=\"503\"} %.3f\n", labels, 0.002*rate*secs)
	}
}

// ServeTraffic serves the shape's traffic on loopback and has the test
// Prometheus scrape it every poll interval (its config file, then
// /-/reload). The returned function stops serving and restores the
// config.
func ServeTraffic(ctx context.Context, s Shape, prometheus, configFile string) (stop func(), err error) {
	original, err := os.ReadFile(configFile)
	if err != nil {
		return nil, fmt.Errorf("read the Prometheus config (SENTINEL_TEST_PROMETHEUS_CONFIG): %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for the scrape: %w", err)
	}
	srv := &http.Server{Handler: traffic{s: s, start: time.Now()}, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	job := fmt.Sprintf("global:\n  scrape_interval: 15s\n  evaluation_interval: 15s\nscrape_configs:\n"+
		"  - job_name: scalebench\n    scrape_timeout: 10s\n    static_configs:\n      - targets: [%q]\n", ln.Addr().String())
	restore := func() {
		_ = srv.Close()
		if err := os.WriteFile(configFile, original, 0o600); err == nil {
			_ = reload(context.WithoutCancel(ctx), prometheus)
		}
	}
	if err := os.WriteFile(configFile, []byte(job), 0o600); err != nil {
		restore()
		return nil, fmt.Errorf("write the Prometheus config: %w", err)
	}
	if err := reload(ctx, prometheus); err != nil {
		restore()
		return nil, err
	}
	return restore, nil
}

// reload asks Prometheus to read its config file again.
func reload(ctx context.Context, prometheus string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, prometheus+"/-/reload", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("reload Prometheus: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("reload Prometheus: %s", resp.Status)
	}
	return nil
}

// waitHistory waits until the traffic has been served for span, so a
// replica's warm-up finds that much history (populating usually takes
// longer).
func waitHistory(ctx context.Context, since time.Time, span time.Duration) error {
	wait := time.Until(since.Add(span))
	if wait <= 0 {
		return nil
	}
	fmt.Printf("history: waiting %v more for %v of metrics history\n", wait.Round(time.Second), span)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(wait):
		return nil
	}
}

var errNoPrometheusConfig = errors.New("SENTINEL_TEST_PROMETHEUS_CONFIG is not set: run under scripts/testenv.sh exec, or pass -history 0")
