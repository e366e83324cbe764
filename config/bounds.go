package config

// Bounds and Enums state, for tools that check a configuration before
// sentinel reads it (the Helm chart's values schema is generated from
// them), the single-key limits Validate enforces. Limits between keys
// (rate_window against poll_interval, say) are Validate's alone.

// A Bound is the range Validate accepts for one numeric key, in the terms
// of JSON Schema: a nil limit is none.
type Bound struct {
	Minimum, ExclusiveMinimum, Maximum, ExclusiveMaximum *float64
}

func limit(v float64) *float64 { return &v }

// Bounds maps dotted keys to the range Validate accepts for them.
func Bounds() map[string]Bound {
	return map[string]Bound{
		"detection.threshold":        {ExclusiveMinimum: limit(0), ExclusiveMaximum: limit(1)},
		"detection.min_request_rate": {ExclusiveMinimum: limit(0)},
		// Validate keeps it below detection.threshold, itself below 1.
		"rollback.healthy.max_error_ratio": {Minimum: limit(0), ExclusiveMaximum: limit(1)},
		"rollback.max_per_incident":        {Minimum: limit(0), Maximum: limit(1)},
		"metrics.blind_after":              {Minimum: limit(1)},
		"paging.pagerduty.queue_size":      {Minimum: limit(1)},
	}
}

// Enums maps dotted keys to the only values Validate accepts for them.
func Enums() map[string][]string {
	return map[string][]string{
		"metrics.source":            {"prometheus", "datadog"},
		"metrics.mesh":              Meshes(),
		"paging.pagerduty.severity": {"critical", "error", "warning", "info"},
	}
}

// PositiveDurations lists the duration keys Validate requires above zero
// whatever the other keys say. detection.poll_interval's floor
// (MinPollInterval) and the timeouts of the source not chosen, or of a
// leader election turned off, are Validate's alone.
func PositiveDurations() []string {
	return []string{
		"detection.rate_window", "detection.resolve_after", "detection.link_window",
		"rollback.healthy.min_duration",
		"kubernetes.verify_timeout", "kubernetes.request_timeout",
		"paging.pagerduty.timeout",
	}
}
