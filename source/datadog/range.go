package datadog

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/DataDog/datadog-api-client-go/v2/api/datadogV1"

	"github.com/sentinel-sre/sentinel/detector"
	"github.com/sentinel-sre/sentinel/source"
)

// DefaultRangeChunk is the span of polls one timeseries request covers in
// a backtest: an hour keeps Datadog's rollup at the 15 s the Agent
// submits at (a longer span may be rolled up coarser than the rate
// window, which Observe refuses).
const DefaultRangeChunk = time.Hour

// ErrRange is wrapped by Range.Observe's error when a timeseries request
// failed: a backtest stops rather than judge its polls unknown.
var ErrRange = errors.New("datadog timeseries over the range failed")

// Range answers the polls of a past range from Datadog's timeseries API
// (the v1 query endpoint, over the range): one request per chunk of
// polls, each poll judged from that answer by the very code Observe uses
// (complete buckets of the rate window ending the ingestion delay before
// the poll). It is for one goroutine, polling in time order.
type Range struct {
	src        *Source
	start, end time.Time
	step       time.Duration
	chunk      time.Duration

	cur     datadogV1.MetricsQueryResponse
	curFrom int64 // ms, the answer's from
	curLo   time.Time
	curHi   time.Time // polls in [curLo, curHi] are answered by cur
	have    bool
}

// NewRange returns the polls from start to at most to, every step.
// chunk (0: DefaultRangeChunk) is the span of polls per request.
func (s *Source) NewRange(start, to time.Time, step, chunk time.Duration) (*Range, error) {
	if step <= 0 {
		return nil, fmt.Errorf("range step must be positive, got %s", step)
	}
	if start.After(to) {
		return nil, fmt.Errorf("range %s to %s holds no poll", start.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339))
	}
	if chunk <= 0 {
		chunk = DefaultRangeChunk
	}
	chunk = max(chunk/step*step, step)
	return &Range{src: s, start: start, end: start.Add(to.Sub(start) / step * step), step: step, chunk: chunk}, nil
}

// Observe answers the poll at at.
func (r *Range) Observe(ctx context.Context, at time.Time) ([]detector.Observation, error) {
	if at.Before(r.start) || at.After(r.end) {
		return nil, fmt.Errorf("%w: %s is outside the range", ErrRange, at.UTC().Format(time.RFC3339))
	}
	if !r.have || at.Before(r.curLo) || at.After(r.curHi) {
		hi := at.Add(r.chunk - r.step)
		if hi.After(r.end) {
			hi = r.end
		}
		if err := r.fetch(ctx, at, hi); err != nil {
			return nil, err
		}
	}
	s := r.src
	obs, skipped, reason, err := s.observations(r.cur, at, r.curFrom)
	for k, n := range skipped {
		s.m.Skipped(k, n)
	}
	if err != nil {
		err = s.fail(reason, fmt.Errorf("datadog at %s: %w", at.UTC().Format(time.RFC3339), err))
		if !errors.Is(err, source.ErrNoData) {
			err = fmt.Errorf("%w: %w", ErrRange, err)
		}
		return nil, err
	}
	return obs, nil
}

// fetch asks for the counts every poll in [lo, hi] needs.
func (r *Range) fetch(ctx context.Context, lo, hi time.Time) error {
	s := r.src
	qctx, cancel, err := s.keyed(ctx)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrRange, err)
	}
	defer cancel()
	// As Observe: twice the window before the first poll's cutoff.
	from := lo.Add(-s.delay - 2*s.window)
	began := s.clock.Now()
	resp, httpResp, err := s.api.QueryMetrics(qctx, from.Unix(), hi.Unix(), s.query)
	s.m.ObserveDuration(s.clock.Since(began))
	if err != nil {
		return fmt.Errorf("%w: %s to %s: %w", ErrRange, from.UTC().Format(time.RFC3339), hi.UTC().Format(time.RFC3339),
			s.fail(classify(err, httpResp), describe(err)))
	}
	r.cur, r.curFrom, r.curLo, r.curHi, r.have = resp, from.Unix()*1000, lo, hi, true
	return nil
}
