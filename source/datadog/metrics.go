package datadog

// sourceLabel is this source's value of the "source" label of the metrics
// package source registers.
const sourceLabel = "datadog"

// Why a query failed: a closed set, every series pre-created at zero.
const (
	ReasonTimeout     = "timeout"      // the per-query timeout
	ReasonCanceled    = "canceled"     // the caller gave up (shutdown)
	ReasonUnavailable = "unavailable"  // transport error, 5xx
	ReasonRejected    = "rejected"     // 400, 401, 403: the query or the keys are wrong
	ReasonRateLimited = "rate_limited" // 429, or the poll skipped until the rate limit resets
	ReasonBadResponse = "bad_response" // undecodable body, status not ok, inconsistent buckets
	ReasonCredentials = "credentials"  // the API or application key could not be read
	ReasonNoData      = "no_data"      // no series, or none in the newest complete bucket
	ReasonInvalid     = "invalid"      // series came back but none was usable
)

var errorReasons = []string{ReasonTimeout, ReasonCanceled, ReasonUnavailable, ReasonRejected,
	ReasonRateLimited, ReasonBadResponse, ReasonCredentials, ReasonNoData, ReasonInvalid}

// Why a series was skipped: a closed set, every series pre-created at zero.
const (
	SkipNoWorkload = "no_workload" // namespace or workload tag missing, or "unknown"
	SkipNoCode     = "no_code"     // response code tag missing
	SkipBadValue   = "bad_value"   // a negative or non-finite count
)

var skipReasons = []string{SkipNoWorkload, SkipNoCode, SkipBadValue}
