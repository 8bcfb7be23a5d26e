package wasi

import (
	"fmt"
	"strings"
	"testing"
)

// TestLearnFailingNamesBounded: a Ruby script reports, request after
// request, new names of the packed standard library's form that do not
// exist; each retake drops them, so they never fill the learned list. The
// names tried must stay bounded (each costs the host an init and memory),
// not grow for as long as the tenant keeps asking.
func TestLearnFailingNamesBounded(t *testing.T) {
	const max = 4
	l := &learner{src: &snapSrc{closed: true}, ruby: true, max: max, known: map[string]bool{}}
	defer l.stop()
	prog := &Program{}
	retakes := 0
	for round := range 1000 {
		var rep strings.Builder
		for i := range max {
			fmt.Fprintf(&rep, "/usr/local/lib/ruby/3.3.0/nope%d_%d.rb\n", round, i)
		}
		l.take([]byte(rep.String()), prog, nil)
		list, added := l.next()
		if len(added) == 0 {
			continue
		}
		retakes++
		// The retake's init could not require any of them: all dropped.
		if _, _, err := l.commit(list, added, added); err != nil {
			t.Fatal(err)
		}
	}
	l.mu.Lock()
	known := len(l.known)
	l.mu.Unlock()
	if known > 4*max || retakes > 4*max {
		t.Errorf("after 1000 reports of failing names: %d names kept as known, %d retakes; want at most %d of each", known, retakes, 4*max)
	}
}
