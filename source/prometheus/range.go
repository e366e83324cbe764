package prometheus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"go.uber.org/zap"

	"github.com/sentinel-sre/sentinel/detector"
	"github.com/sentinel-sre/sentinel/source"
)

// MaxPointsPerSeries is Prometheus's limit on the points of one series in
// one query_range answer ("exceeded maximum resolution of 11,000 points
// per timeseries"): a longer range is asked for in chunks.
const MaxPointsPerSeries = 11000

// rangeTimeout bounds one query_range request of a backtest: Prometheus's
// own default query timeout (--query.timeout), so a chunk of thousands of
// series is answered or refused by the server rather than abandoned after
// metrics.prometheus.timeout, which is meant for one poll.
const rangeTimeout = 2 * time.Minute

// DefaultChunkSteps is how many polls one query_range asks for unless told
// otherwise: two hours at a 15 s poll, small enough that an answer for a
// thousand workloads stays a few MiB, large enough that a day is a dozen
// requests.
const DefaultChunkSteps = 480

// Range answers the live query over a past range, for a backtest. It asks
// query_range for the exact query Observe sends (same template, same
// range selection for the server's version), at step = the poll interval,
// on the poll grid (engine.PollAt), one chunk of polls per request, the
// next chunk fetched while the caller works through the current one. Its
// Observe answers a poll instant exactly as Source.Observe would have at
// that instant: the daemon evaluates each poll at the poll's own time
// (metrics.query_delay only delays the asking), so the answers agree.
//
// A poll whose instant has no series, or no usable one, is an ErrNoData
// error as live; a request that fails (the server unreachable, a timeout,
// a warning that the answer may be partial) is a fatal error: Observe
// returns it wrapped in ErrRange, and a backtest stops on it rather than
// judge hours of polls unknown.
type Range struct {
	src        *Source
	query      string
	start, end time.Time // first and last poll instants
	step       time.Duration
	chunkSteps int

	mu      sync.Mutex
	cur     *chunk
	pending map[int]chan chunkResult
}

// ErrRange is wrapped by Range.Observe's error when a query_range request
// failed: the backtest cannot go on without guessing.
var ErrRange = errors.New("query_range failed")

type chunk struct {
	index   int
	answers []answer // by step within the chunk
}

type answer struct {
	obs []detector.Observation
	err error
}

type chunkResult struct {
	c   *chunk
	err error
}

// NewRange returns the polls from start to at most to, every step, of
// s's query. start must be a poll instant (engine.PollAt) so the range
// evaluates where the daemon does. chunkSteps (0: DefaultChunkSteps)
// bounds the polls one request asks for; it is capped under
// MaxPointsPerSeries. The server's range selection (Prometheus 2.x or
// 3.x) is asked here, once: a backtest never guesses it.
func (s *Source) NewRange(ctx context.Context, start, to time.Time, step time.Duration, chunkSteps int) (*Range, error) {
	if step <= 0 {
		return nil, fmt.Errorf("range step must be positive, got %s", step)
	}
	if start.After(to) {
		return nil, fmt.Errorf("range %s to %s holds no poll", start.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339))
	}
	end := start.Add(to.Sub(start) / step * step)
	if chunkSteps <= 0 {
		chunkSteps = DefaultChunkSteps
	}
	chunkSteps = min(chunkSteps, MaxPointsPerSeries-1)
	ranges, err := s.rangesOf(ctx)
	if err != nil {
		return nil, err
	}
	if s.Ranges() == RangesAuto {
		_, err := s.buildinfo.Buildinfo(ctx)
		return nil, fmt.Errorf("ask prometheus its version (without it 2.x and 3.x range selection cannot be told apart): %w", err)
	}
	return &Range{src: s, query: s.Query(ranges), start: start.UTC(), end: end.UTC(), step: step, chunkSteps: chunkSteps,
		pending: map[int]chan chunkResult{}}, nil
}

// Query is the PromQL the range asks for.
func (r *Range) Query() string { return r.query }

// Start and End are the first and last poll instants.
func (r *Range) Start() time.Time { return r.start }

// End is the last poll instant.
func (r *Range) End() time.Time { return r.end }

// Polls is the number of poll instants in the range.
func (r *Range) Polls() int { return int(r.end.Sub(r.start)/r.step) + 1 }

// Observe answers the poll at at, which must be a poll instant of the
// range.
func (r *Range) Observe(ctx context.Context, at time.Time) ([]detector.Observation, error) {
	off := at.Sub(r.start)
	if off < 0 || at.After(r.end) || off%r.step != 0 {
		return nil, fmt.Errorf("%w: %s is not a poll instant of the range %s to %s every %s", ErrRange,
			at.UTC().Format(time.RFC3339), r.start.Format(time.RFC3339), r.end.Format(time.RFC3339), r.step)
	}
	i := int(off / r.step)
	c, err := r.chunk(ctx, i/r.chunkSteps)
	if err != nil {
		return nil, err
	}
	a := c.answers[i%r.chunkSteps]
	return a.obs, a.err
}

// chunk returns chunk n, fetching it unless prefetched, and starts
// fetching chunk n+1.
func (r *Range) chunk(ctx context.Context, n int) (*chunk, error) {
	r.mu.Lock()
	if r.cur != nil && r.cur.index == n {
		c := r.cur
		r.mu.Unlock()
		return c, nil
	}
	wait := r.fetchLocked(ctx, n)
	r.fetchLocked(ctx, n+1)
	r.mu.Unlock()
	var res chunkResult
	select {
	case res = <-wait:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.pending, n) // a failed chunk is asked again if asked for again
	if res.err != nil {
		return nil, res.err
	}
	r.cur = res.c
	return res.c, nil
}

// fetchLocked starts fetching chunk n unless it is under way or past the
// range, and returns where its result will arrive.
func (r *Range) fetchLocked(ctx context.Context, n int) chan chunkResult {
	if ch, ok := r.pending[n]; ok {
		return ch
	}
	first := r.start.Add(time.Duration(n*r.chunkSteps) * r.step)
	if first.After(r.end) {
		return nil
	}
	ch := make(chan chunkResult, 1)
	r.pending[n] = ch
	go func() {
		c, err := r.fetch(ctx, n, first)
		ch <- chunkResult{c: c, err: err}
	}()
	return ch
}

// fetch asks query_range for the polls of chunk n, starting at first.
func (r *Range) fetch(ctx context.Context, n int, first time.Time) (*chunk, error) {
	last := first.Add(time.Duration(r.chunkSteps-1) * r.step)
	if last.After(r.end) {
		last = r.end
	}
	steps := int(last.Sub(first)/r.step) + 1
	s := r.src
	timeout := max(s.timeout, rangeTimeout)
	qctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	began := s.clock.Now()
	val, warnings, err := s.api.QueryRange(qctx, r.query, v1.Range{Start: first, End: last, Step: r.step},
		v1.WithTimeout(timeout))
	s.m.ObserveDuration(s.clock.Since(began))
	span := first.Format(time.RFC3339) + " to " + last.Format(time.RFC3339)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrRange, span, s.fail(classify(err), err))
	}
	if len(warnings) > 0 {
		return nil, fmt.Errorf("%w: %s: the answer may be partial: %w", ErrRange, span,
			s.fail(ReasonWarnings, errors.New(strings.Join(warnings, "; "))))
	}
	mat, ok := val.(model.Matrix)
	if !ok {
		return nil, fmt.Errorf("%w: %s: %w", ErrRange, span,
			s.fail(ReasonBadResponse, fmt.Errorf("want a range vector, got %s", typeOf(val))))
	}
	vecs := make([]model.Vector, steps)
	for _, ss := range mat {
		for _, p := range ss.Values {
			off := p.Timestamp.Time().Sub(first)
			if off < 0 || off%r.step != 0 || int(off/r.step) >= steps {
				return nil, fmt.Errorf("%w: %s: %w", ErrRange, span, s.fail(ReasonBadResponse,
					fmt.Errorf("point of %s at %s is off the poll grid", ss.Metric, p.Timestamp.Time().UTC().Format(time.RFC3339Nano))))
			}
			i := int(off / r.step)
			vecs[i] = append(vecs[i], &model.Sample{Metric: ss.Metric, Value: p.Value, Timestamp: p.Timestamp})
		}
	}
	c := &chunk{index: n, answers: make([]answer, steps)}
	for i, vec := range vecs {
		c.answers[i].obs, c.answers[i].err = s.vectorAnswer(s.samplesOf(vec))
	}
	return c, nil
}

// vectorAnswer turns one instant's samples into observations with the
// checks Observe applies to an instant query's answer: no series, or none
// usable, is ErrNoData; skipped samples are counted.
func (s *Source) vectorAnswer(vec []series) ([]detector.Observation, error) {
	if len(vec) == 0 {
		return nil, s.fail(ReasonNoData, fmt.Errorf("query prometheus: empty answer: %w", source.ErrNoData))
	}
	obs, skipped := s.observations(vec)
	for reason, n := range skipped {
		s.m.Skipped(reason, n)
	}
	if len(skipped) > 0 {
		s.log.Debug("skipped malformed samples", zap.Any("by_reason", skipped))
	}
	if len(obs) == 0 {
		return nil, s.fail(ReasonInvalid, fmt.Errorf("query prometheus: none of %d samples was usable (skipped: %v): %w",
			len(vec), skipped, source.ErrNoData))
	}
	return obs, nil
}
