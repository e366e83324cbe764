package engine

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/detector"
	"github.com/sentinel-sre/sentinel/source"
)

func TestBlindness(t *testing.T) {
	type poll struct {
		answered bool
		lead     bool // a leader that may send the notice asks tell
	}
	type result struct {
		Step     blindStep
		Blind    bool
		Tell     bool
		Resolved bool
	}
	down, up := poll{answered: false, lead: true}, poll{answered: true, lead: true}
	cases := []struct {
		name  string
		polls []poll
		want  []result
	}{{
		name:  "blind after three unanswered polls, told once, resolved when the source answers",
		polls: []poll{down, down, down, down, up, up},
		want: []result{{}, {}, {Step: blindBecame, Blind: true, Tell: true}, {Blind: true},
			{Step: blindEnded, Resolved: true}, {}},
	}, {
		name:  "an answer before the third poll resets the count",
		polls: []poll{down, down, up, down, down, up},
		want:  []result{{}, {}, {}, {}, {}, {}},
	}, {
		name:  "a standby that takes over while blind tells then",
		polls: []poll{{answered: false}, {answered: false}, {answered: false}, down, up},
		want:  []result{{}, {}, {Step: blindBecame, Blind: true}, {Blind: true, Tell: true}, {Step: blindEnded, Resolved: true}},
	}, {
		name:  "blind but never told: nothing to resolve",
		polls: []poll{{answered: false}, {answered: false}, {answered: false}, {answered: true}},
		want:  []result{{}, {}, {Step: blindBecame, Blind: true}, {Step: blindEnded}},
	}}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := blindness{after: 3}
			var got []result
			for i, p := range tc.polls {
				r := result{Step: b.poll(t0.Add(time.Duration(i)*15*time.Second), p.answered)}
				r.Blind = b.blind()
				if r.Step == blindEnded {
					r.Resolved = b.resolve()
				} else if p.lead {
					r.Tell = b.tell()
				}
				got = append(got, r)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if !b.since.IsZero() && !b.since.After(t0.Add(-time.Second)) {
				t.Errorf("since %s before the first poll", b.since)
			}
		})
	}
}

// TestWarmUpGivesUpOnADownSource: a source that leaves blind_after
// instants in a row unanswered ends the warm-up, so the live polls, which
// declare blindness, start at once; fewer failures in a row, or empty
// answers, are skipped and the warm-up goes on.
func TestWarmUpGivesUpOnADownSource(t *testing.T) {
	start := t0.Add(time.Hour)
	down := errors.New("query prometheus: context deadline exceeded")
	tests := []struct {
		name string
		// fails says what the source answers at the i-th instant asked.
		fails     func(i int) error
		wantAsked int
	}{
		{"down", func(int) error { return down }, 4},
		{"down after a while", func(i int) error {
			if i >= 10 {
				return down
			}
			return nil
		}, 14},
		{"three failures in a row, then answers", func(i int) error {
			if i < 3 {
				return down
			}
			return nil
		}, 60},
		{"no data", func(int) error { return source.ErrNoData }, 60},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			asked := 0
			src := script(func(time.Time) ([]detector.Observation, error) {
				err := tt.fails(asked)
				asked++
				if err != nil {
					return nil, err
				}
				return []detector.Observation{{Workload: cart, Requests: 40, Failures: 0.4}}, nil
			})
			cfg := config.Default() // warm_up 15m of 15s polls: 60 instants; blind_after 4
			e := New(cfg, src, &executor{}, &collect{}, zap.NewNop())
			e.WarmUp(t.Context(), start)
			if asked != tt.wantAsked {
				t.Errorf("asked the source %d instants, want %d", asked, tt.wantAsked)
			}
		})
	}
}
