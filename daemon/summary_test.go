package daemon

import (
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sentinel-sre/sentinel/config"
)

// The start-up line carries the effective configuration, and never the
// credentials a metrics URL may hold.
func TestLogConfigSummarises(t *testing.T) {
	cfg := config.Default()
	cfg.Metrics.Prometheus.URL = "https://admin:s3cret@prom.example:9090/prefix"
	cfg.Metrics.Mesh = config.MeshLinkerd
	cfg.Kubernetes.Namespaces = []string{"shop", "pay"}
	cfg.Detection.Threshold = 0.3
	cfg.Detection.For = 45 * time.Second
	cfg.Detection.PollInterval = 20 * time.Second
	cfg.Paging.PagerDuty.Enabled = true
	cfg.Rollback.Enabled = false
	cfg.Rollback.DryRun = true

	core, logs := observer.New(zap.InfoLevel)
	logConfig(zap.New(core), cfg)
	entries := logs.FilterMessage("effective configuration").All()
	if len(entries) != 1 {
		t.Fatalf("want one effective configuration line, got %d of %d entries", len(entries), logs.Len())
	}
	got := entries[0].ContextMap()
	want := map[string]any{
		"metrics_source": "prometheus",
		"metrics_url":    "https://prom.example:9090/prefix",
		"mesh":           config.MeshLinkerd,
		"threshold":      0.3,
		"for":            45 * time.Second,
		"poll_interval":  20 * time.Second,
		"paging":         true,
		"rollback":       false,
		"dry_run":        true,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if ns, _ := got["namespaces"].([]any); len(ns) != 2 || ns[0] != "shop" || ns[1] != "pay" {
		t.Errorf("namespaces = %v, want [shop pay]", got["namespaces"])
	}
	for k, v := range got {
		if s, ok := v.(string); ok && strings.Contains(s, "s3cret") {
			t.Errorf("%s leaks the URL's password: %q", k, s)
		}
	}

	cfg.Metrics.Source = "datadog"
	cfg.Metrics.Datadog.URL = ""
	cfg.Metrics.Datadog.Site = "datadoghq.eu"
	core, logs = observer.New(zap.InfoLevel)
	logConfig(zap.New(core), cfg)
	dd := logs.All()[0].ContextMap()
	if dd["metrics_source"] != "datadog" || dd["metrics_site"] != "datadoghq.eu" || dd["metrics_url"] != nil {
		t.Errorf("datadog summary: %v", dd)
	}
}
