package incident

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	"github.com/sentinel-sre/sentinel/detector"
)

// grpcNames are the gRPC status codes' names, by number, as gRPC's
// specification writes them (doc/statuscodes.md in grpc/grpc).
var grpcNames = [...]string{
	"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
	"PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
	"UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
}

// GRPCStatusName names a gRPC status as a metric label carries it: "14"
// is UNAVAILABLE; a value that is no known number is shown as written.
func GRPCStatusName(status string) string {
	if n, err := strconv.Atoi(status); err == nil && n >= 0 && n < len(grpcNames) {
		return grpcNames[n]
	}
	return status
}

// minShare is the least share of the failures a kind must have to be
// named: a page names what failed, not every stray status.
const minShare = 0.1

// failingAs says what failed, most first: "gRPC UNAVAILABLE" for calls
// that failed with a gRPC status, the response codes' word ("5xx") for
// the other failures; kinds under a tenth of the failures are left out
// (the largest never is). Nil when no call failed with a gRPC status.
func failingAs(codes string, by []detector.Failure) []string {
	var total float64
	grpc := false
	for _, f := range by {
		total += f.Rate
		grpc = grpc || f.GRPC != ""
	}
	if !grpc || !(total > 0) {
		return nil
	}
	kinds := slices.Clone(by)
	slices.SortStableFunc(kinds, func(a, b detector.Failure) int { return cmp.Compare(b.Rate, a.Rate) })
	var out []string
	for i, f := range kinds {
		if i > 0 && f.Rate < minShare*total {
			break
		}
		if f.GRPC == "" {
			out = append(out, codesWord(codes))
			continue
		}
		out = append(out, "gRPC "+GRPCStatusName(f.GRPC))
	}
	return out
}

// failureWord is what an action's failures were, for its summary: "5xx",
// or "gRPC UNAVAILABLE" where calls failed with that status.
func (a Action) failureWord() string {
	if as := failingAs(a.FailureCodes, a.FailedBy); len(as) > 0 {
		return strings.Join(as, ", ")
	}
	return codesWord(a.FailureCodes)
}
