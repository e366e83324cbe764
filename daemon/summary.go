package daemon

import (
	"net/url"

	"go.uber.org/zap"

	"github.com/sentinel-sre/sentinel/config"
)

// logConfig writes one line with the effective configuration an operator
// checks first after an install: where the metrics come from, what is
// watched, when it pages, and whether it pages and rolls back at all.
// URLs are logged without their user information.
func logConfig(log *zap.Logger, cfg config.Config) {
	m, d := cfg.Metrics, cfg.Detection
	fields := []zap.Field{zap.String("metrics_source", m.Source)}
	switch m.Source {
	case "prometheus":
		fields = append(fields, zap.String("metrics_url", withoutUser(m.Prometheus.URL)))
	case "datadog":
		if m.Datadog.URL != "" {
			fields = append(fields, zap.String("metrics_url", withoutUser(m.Datadog.URL)))
		} else {
			fields = append(fields, zap.String("metrics_site", m.Datadog.Site))
		}
	}
	if m.Mesh != "" {
		fields = append(fields, zap.String("mesh", m.Mesh))
	}
	namespaces := cfg.Kubernetes.Namespaces
	if len(namespaces) == 0 {
		namespaces = []string{} // all: logged as [], not null
	}
	fields = append(fields,
		zap.Strings("namespaces", namespaces),
		zap.Float64("threshold", d.Threshold),
		zap.Duration("for", d.For),
		zap.Duration("poll_interval", d.PollInterval),
		zap.Bool("paging", cfg.Paging.PagerDuty.Enabled),
		zap.Bool("rollback", cfg.Rollback.Enabled),
		zap.Bool("dry_run", cfg.Rollback.DryRun),
	)
	log.Info("effective configuration", fields...)
}

// withoutUser drops a URL's user information (a password, a token); an
// unparsable URL, which Validate refuses, is left out.
func withoutUser(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	u.User = nil
	return u.String()
}
