package main

import (
	"fmt"
	"io"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/source/datadog"
	"github.com/sentinel-sre/sentinel/source/prometheus"
)

// writeQuery prints the mesh and the query a configuration sends on every
// poll, as its source will send it (check-config).
func writeQuery(w io.Writer, cfg config.Config) error {
	fmt.Fprintf(w, "mesh: %s\n", cfg.Metrics.Mesh)
	if cfg.Metrics.Source == "datadog" {
		_, err := fmt.Fprintf(w, "datadog query:\n  %s\n", datadog.RenderQuery(cfg.Metrics.Datadog, cfg.Detection))
		return err
	}
	q, err := prometheus.RenderQuery(cfg.Metrics.Prometheus, cfg.Detection, prometheus.RangesLeftOpen)
	if err != nil {
		return err
	}
	open := prometheus.NewQueryData(cfg.Metrics.Prometheus, cfg.Detection, prometheus.RangesLeftOpen).Window
	closed := prometheus.NewQueryData(cfg.Metrics.Prometheus, cfg.Detection, prometheus.RangesClosed).Window
	_, err = fmt.Fprintf(w, "prometheus query (a 2.x server is sent [%s] for [%s]):\n  %s\n", closed, open, q)
	return err
}
