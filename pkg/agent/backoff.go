package agent

import (
	"context"
	"math/rand/v2"
	"time"
)

// backoff is exponential backoff with jitter: each delay is drawn from
// [cur/2, cur) and cur doubles up to max.
type backoff struct {
	min, max time.Duration
	cur      time.Duration
}

func newBackoff(min, max time.Duration) *backoff { return &backoff{min: min, max: max} }

func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else {
		b.cur *= 2
	}
	if b.cur > b.max {
		b.cur = b.max
	}
	half := b.cur / 2
	if half <= 0 {
		return b.cur
	}
	return half + rand.N(half)
}

func (b *backoff) reset() { b.cur = 0 }

// sleepCtx waits d or until ctx ends; it reports whether d elapsed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
