package tick

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// fn runs repeatedly, and never again once stop has returned.
func TestEvery(t *testing.T) {
	var n atomic.Int32
	stop := Every(context.Background(), time.Millisecond, func(context.Context) { n.Add(1) })
	for n.Load() < 3 {
		time.Sleep(time.Millisecond)
	}
	stop()
	after := n.Load()
	time.Sleep(20 * time.Millisecond)
	if n.Load() != after {
		t.Errorf("fn ran %d more times after stop", n.Load()-after)
	}
}

// Ending the context ends the loop too; stop still returns.
func TestEveryContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{}, 1)
	stop := Every(ctx, time.Millisecond, func(context.Context) {
		select {
		case ran <- struct{}{}:
		default:
		}
	})
	<-ran
	cancel()
	stop()
}
