package engine

import (
	"context"
	"time"

	"github.com/sentinel-sre/sentinel/detector"
	"github.com/sentinel-sre/sentinel/source"
)

// blindness tracks whether the metrics source answers, poll by poll: after
// `after` polls in a row without an answer sentinel is blind. It is pure,
// like the detector: the engine turns its steps into metrics, logs and
// notices. An empty answer (source.ErrNoData) is an answer: every workload is
// unknown, but the source is not down.
type blindness struct {
	after int       // polls without an answer that make sentinel blind
	down  int       // polls in a row without an answer
	since time.Time // the first of them: the blind notice's onset
	told  bool      // the blind notice was sent
}

// blindStep is what one poll changed.
type blindStep int

const (
	blindSame   blindStep = iota // nothing changed
	blindBecame                  // this poll made sentinel blind
	blindEnded                   // the source answered after sentinel was blind
)

// poll records whether the source answered at now.
func (b *blindness) poll(now time.Time, answered bool) blindStep {
	if answered {
		wasBlind := b.blind()
		b.down = 0
		if wasBlind {
			return blindEnded
		}
		b.told = false
		return blindSame
	}
	if b.down == 0 {
		b.since = now
	}
	b.down++
	if b.down == b.after {
		return blindBecame
	}
	return blindSame
}

// blind reports whether sentinel is blind now.
func (b *blindness) blind() bool { return b.down >= b.after }

// tell reports whether the blind notice is still to be sent, and marks it
// sent: once per blind spell, by whichever replica leads while blind.
func (b *blindness) tell() bool {
	if !b.blind() || b.told {
		return false
	}
	b.told = true
	return true
}

// resolve reports whether the notice was sent for the spell that just
// ended (blindEnded), so its resolve is due, and forgets it.
func (b *blindness) resolve() bool {
	told := b.told
	b.told = false
	return told
}

// unanswered counts the queries its source left unanswered in a row (an
// empty answer, source.ErrNoData, is an answer): after `after` of them
// the source is taken for down. The warm-up uses it to give up.
type unanswered struct {
	Source
	after, inARow int
}

func (u *unanswered) Observe(ctx context.Context, at time.Time) ([]detector.Observation, error) {
	obs, err := u.Source.Observe(ctx, at)
	u.inARow++
	if source.Answered(err) {
		u.inARow = 0
	}
	return obs, err
}

// down reports whether the last `after` queries went unanswered.
func (u *unanswered) down() bool { return u.inARow >= u.after }
