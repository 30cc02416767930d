package queue

import "time"

// Clock is the broker's source of time: every visibility timeout, delay,
// retention period, deduplication window and long-poll deadline is measured
// with it. Production uses the system clock; tests inject a clock they
// advance by hand, so expiry is tested without sleeping.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine once d has passed.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc call.
type Timer interface {
	// Stop prevents the call; false when it already ran or was stopped.
	Stop() bool
	// Reset makes the call happen d from now (again, if it already ran).
	Reset(d time.Duration) bool
}

// systemClock is the wall clock.
type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// after returns a channel closed once d has passed on c, and a function
// that releases the timer early; the channel form of AfterFunc that
// select statements need.
func after(c Clock, d time.Duration) (<-chan struct{}, func()) {
	ch := make(chan struct{})
	t := c.AfterFunc(d, func() { close(ch) })
	return ch, func() { t.Stop() }
}
