package source

import (
	"slices"
	"strings"

	"github.com/sentinel-sre/sentinel/detector"
)

// Failures splits a workload's failures by what they failed with, as
// every source reports them (detector.Observation.FailedBy). The zero
// value is empty.
type Failures struct {
	grpc   []detector.Failure
	byCode float64
}

// Add counts v failures that failed with the gRPC status grpc, or, grpc
// empty, by their response code. Zeros count nothing.
func (f *Failures) Add(grpc string, v float64) {
	switch {
	case v == 0:
	case grpc == "":
		f.byCode += v
	default:
		i := slices.IndexFunc(f.grpc, func(x detector.Failure) bool { return x.GRPC == grpc })
		if i < 0 {
			i = len(f.grpc)
			f.grpc = append(f.grpc, detector.Failure{GRPC: grpc})
		}
		f.grpc[i].Rate += v
	}
}

// Rates returns the failures divided by per (1 for rates already): the
// gRPC statuses in status order, then those by response code. Nil when
// none failed with a gRPC status.
func (f *Failures) Rates(per float64) []detector.Failure {
	if len(f.grpc) == 0 {
		return nil
	}
	out := slices.SortedFunc(slices.Values(f.grpc), func(a, b detector.Failure) int { return strings.Compare(a.GRPC, b.GRPC) })
	if f.byCode > 0 {
		out = append(out, detector.Failure{Rate: f.byCode})
	}
	for i := range out {
		out[i].Rate /= per
	}
	return out
}
