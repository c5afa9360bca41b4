// Package tick runs a function periodically in the background, for the
// liveness marks (crawl runs touched, activities heartbeating) that long
// operations keep up while they work.
package tick

import (
	"context"
	"time"
)

// Every runs fn every d in a goroutine until ctx ends or stop is called;
// stop waits for it to return, so nothing runs after it.
func Every(ctx context.Context, d time.Duration, fn func(ctx context.Context)) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				fn(ctx)
			}
		}
	}()
	return func() { cancel(); <-done }
}
