package engine

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
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
