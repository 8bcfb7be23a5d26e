package host

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestTimerStaysStopped: the run's timer, stopped when the handler
// returns, must not be set again by a tick running at that moment (a
// flush due just as the output ends): it would keep the request's state
// alive until the deadline and fire for a request long gone.
func TestTimerStaysStopped(t *testing.T) {
	rearmed := 0
	for i := 0; i < 150000; i++ {
		o := &output{deadline: time.Now().Add(time.Hour), closed: true}
		o.timer = time.AfterFunc(time.Hour, func() {})
		var wg sync.WaitGroup
		var ready atomic.Int32
		wg.Add(2)
		// Both start together, so that they meet often.
		together := func(f func()) {
			defer wg.Done()
			ready.Add(1)
			for ready.Load() < 2 {
				runtime.Gosched()
			}
			f()
		}
		go together(o.tick)
		go together(o.stopTimer)
		wg.Wait()
		if o.timer.Stop() {
			rearmed++
		}
	}
	if rearmed > 0 {
		t.Errorf("got the timer set again after it was stopped %d times in 150000; want 0", rearmed)
	}
}
