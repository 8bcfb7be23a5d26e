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

// TestLearnBoundCountsRetakeUnderWay: names reported while a retake is
// adding others count against the bound too. They were not counted, so
// reports arriving during a retake grew Django's list from 256 to 420.
func TestLearnBoundCountsRetakeUnderWay(t *testing.T) {
	const max = 4
	l := &learner{src: &snapSrc{closed: true}, ruby: true, max: max, known: map[string]bool{}}
	defer l.stop()
	prog := &Program{}
	report := func(round int) []byte {
		var rep strings.Builder
		for i := range max {
			fmt.Fprintf(&rep, "/usr/local/lib/ruby/3.3.0/m%d_%d.rb\n", round, i)
		}
		return []byte(rep.String())
	}
	l.take(report(0), prog, nil)
	list, added := l.next() // a retake starts with these
	l.take(report(1), prog, nil)
	l.mu.Lock()
	pending := len(l.pending)
	l.mu.Unlock()
	if pending != 0 {
		t.Errorf("%d names pending while a retake adds %d of a bound of %d; want 0", pending, len(added), max)
	}
	if _, n, err := l.commit(list, added, nil); err != nil || n != max {
		t.Fatalf("commit: %d names, %v; want %d", n, err, max)
	}
	l.take(report(2), prog, nil)
	if _, added := l.next(); len(added) != 0 {
		t.Errorf("the list at its bound learned %d more; want 0", len(added))
	}
}

// TestLearnStopsAskingWhenFull: once the list is at its bound, runs are
// no longer asked for reports (a report costs the guest time, and memory
// that keeps its instance from being reused); a retake that drops names
// frees places, and runs are asked again.
func TestLearnStopsAskingWhenFull(t *testing.T) {
	const max = 4
	l := &learner{src: &snapSrc{closed: true}, ruby: true, max: max, known: map[string]bool{}}
	defer l.stop()
	if !l.wants() {
		t.Fatal("an empty list: wants() = false; want true")
	}
	var rep strings.Builder
	for i := range max {
		fmt.Fprintf(&rep, "/usr/local/lib/ruby/3.3.0/w%d.rb\n", i)
	}
	l.take([]byte(rep.String()), &Program{}, nil)
	if l.wants() {
		t.Error("a list at its bound (names pending): wants() = true; want false")
	}
	list, added := l.next()
	if l.wants() {
		t.Error("a list at its bound (names in a retake): wants() = true; want false")
	}
	if _, n, err := l.commit(list, added, added[:1]); err != nil || n != max-1 {
		t.Fatalf("commit dropping one: %d names, %v; want %d", n, err, max-1)
	}
	if !l.wants() {
		t.Error("a list with a place freed: wants() = false; want true")
	}
}
