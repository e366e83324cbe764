package prometheus

// sourceLabel is this source's value of the "source" label of the metrics
// package source registers.
const sourceLabel = "prometheus"

// Why a query failed: a closed set, every series pre-created at zero.
const (
	ReasonTimeout     = "timeout"      // the per-query timeout or Prometheus's own
	ReasonCanceled    = "canceled"     // the caller gave up (shutdown)
	ReasonUnavailable = "unavailable"  // transport error, 5xx
	ReasonRejected    = "rejected"     // 4xx, bad_data, execution error: the query is wrong
	ReasonBadResponse = "bad_response" // undecodable body or not an instant vector
	ReasonWarnings    = "warnings"     // the answer may be partial
	ReasonNoData      = "no_data"      // an empty vector: nothing is known
	ReasonInvalid     = "invalid"      // samples came back but none was usable
)

var errorReasons = []string{ReasonTimeout, ReasonCanceled, ReasonUnavailable, ReasonRejected,
	ReasonBadResponse, ReasonWarnings, ReasonNoData, ReasonInvalid}

// Why a sample was skipped: a closed set, every series pre-created at zero.
const (
	SkipNoWorkload = "no_workload" // namespace or workload label missing, or "unknown"
	SkipBadValue   = "bad_value"   // NaN, infinite or negative rate
	SkipBadClass   = "bad_class"   // sentinel_class missing or neither total nor failed
	SkipDuplicate  = "duplicate"   // two samples for one workload and class
	SkipNoTotal    = "no_total"    // a failed rate without a total rate
)

var skipReasons = []string{SkipNoWorkload, SkipBadValue, SkipBadClass, SkipDuplicate, SkipNoTotal}
