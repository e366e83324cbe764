package engine

import (
	"time"

	"github.com/sentinel-sre/sentinel/detector"
	"github.com/sentinel-sre/sentinel/evidence"
	"github.com/sentinel-sre/sentinel/workload"
)

// PollRecord is what one poll saw and where it left the detector, for
// explaining a replay (`--trace`) and drawing its timeline (`--report`).
type PollRecord struct {
	At time.Time
	// Observations are the source's answer, sorted by workload; nil when
	// SourceErr is set.
	Observations []detector.Observation
	SourceErr    error
	// State returns a workload's detector state after the poll and, when
	// pending or firing, its onset. Valid only during the hook's call.
	State func(workload.Ref) (detector.State, time.Time)
	// Evidence returns what a workload was judged by at the poll: its
	// revisions' own ratios, the rule that chose the judged observation,
	// when its errors began. Valid only during the hook's call.
	Evidence func(workload.Ref) (evidence.Workload, bool)
}

// WithPollHook calls hook after every poll's evaluation, before its
// actions are reported. The hook runs under the engine's lock: it must
// only read the record, keep what it needs and return.
func WithPollHook(hook func(PollRecord)) Option {
	return func(e *Engine) { e.pollHook = hook }
}

// tellHook hands the poll just evaluated to the hook, if there is one,
// under the lock.
func (e *Engine) tellHook(now time.Time, obs []detector.Observation, srcErr error) {
	if e.pollHook == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.pollHook(PollRecord{At: now, Observations: obs, SourceErr: srcErr, State: e.detector.State,
		Evidence: e.evidence.Evidence})
}
