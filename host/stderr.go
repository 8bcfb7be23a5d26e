package host

import (
	"bytes"
	"time"
)

// Bounds of what one request's stderr may put in the log. They are fixed,
// not config keys: they protect the log, not the guest (wasi/SECURITY.md,
// "Fixed limits").
const (
	maxStderrLine  = 4 << 10  // longer lines are cut
	maxStderrBytes = 64 << 10 // per request; the rest is counted, not logged
	// maxStderrLines bounds the events: a byte cap alone let 8 MiB of bare
	// newlines make 7.3 million events from one request.
	maxStderrLines = 1000
	// maxStderrEvent bounds one event's text: a burst longer than this is
	// logged as several events.
	maxStderrEvent = 16 << 10
	// stderrBurstGap ends a burst: lines written closer together than this
	// (a traceback, written line by line) are one event.
	stderrBurstGap = 100 * time.Millisecond
)

// stderrLog turns a guest's stderr into log events tagged with the
// request's route, module and request id: one per burst of non-blank lines
// (lines written less than stderrBurstGap apart), so that a traceback is
// one event a reader can follow, not one per line. A burst is logged when
// the next line comes later, when it reaches maxStderrEvent bytes, or when
// the run ends; no timer runs beside the guest. What it does not
// log (blank lines, lines past maxStderrLines, bytes past maxStderrBytes or
// maxStderrLine) is counted and reported once, by the access log event when
// there is one.
type stderrLog struct {
	log  *requestLog
	info *Info // the access log's, or nil: then flush logs the drops itself

	line  []byte // the current line's logged bytes
	seen  int    // bytes of the current line seen, logged or not
	total int    // bytes logged
	lines int    // events logged

	droppedLines int // blank lines and lines past maxStderrLines
	droppedBytes int // bytes not logged, newlines of dropped lines included

	burst      []byte    // the lines of the burst not logged yet, joined by newlines
	burstLines int       // how many
	last       time.Time // when the last line ended
	// keep, with show_errors, is every logged line, for the error page.
	keep  bool
	kept  []byte
	clock func() time.Time // time.Now; tests replace it
}

func (s *stderrLog) Write(p []byte) (int, error) {
	n := len(p)
	if len(s.line) == 0 && s.full() {
		// Nothing more can be logged: count without looking at each line.
		s.droppedBytes += len(p)
		if k := bytes.Count(p, []byte{'\n'}); k > 0 {
			s.droppedLines += k
			s.seen = len(p) - 1 - bytes.LastIndexByte(p, '\n')
		} else {
			s.seen += len(p)
		}
		return n, nil
	}
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			s.take(p)
			break
		}
		s.take(p[:i])
		s.endLine(1)
		p = p[i+1:]
	}
	return n, nil
}

func (s *stderrLog) full() bool {
	return s.lines >= maxStderrLines || s.total >= maxStderrBytes
}

// take adds b, a part of the current line without its newline.
func (s *stderrLog) take(b []byte) {
	s.seen += len(b)
	if s.full() {
		s.droppedBytes += len(b)
		return
	}
	room := max(min(maxStderrLine-len(s.line), maxStderrBytes-s.total), 0)
	if room < len(b) {
		s.droppedBytes += len(b) - room
		b = b[:room]
	}
	s.line = append(s.line, b...)
	s.total += len(b)
}

// endLine ends the current line; nl is the length of its newline (0 for a
// last line without one).
func (s *stderrLog) endLine(nl int) {
	text := bytes.TrimSuffix(s.line, []byte{'\r'})
	if len(bytes.TrimSpace(text)) == 0 {
		// Blank, or nothing of it could be logged: no event.
		s.droppedLines++
		s.droppedBytes += len(s.line) + nl
		s.total -= len(s.line)
	} else {
		now := s.now()
		if s.burstLines > 0 && (now.Sub(s.last) >= stderrBurstGap || len(s.burst)+1+len(text) > maxStderrEvent) {
			s.emit()
		}
		if s.burstLines > 0 {
			s.burst = append(s.burst, '\n')
		}
		s.burst = append(s.burst, text...)
		s.burstLines++
		s.last = now
		if s.keep {
			s.kept = append(append(s.kept, text...), '\n')
		}
		s.lines++
	}
	s.line = s.line[:0]
	s.seen = 0
}

func (s *stderrLog) now() time.Time {
	if s.clock != nil {
		return s.clock()
	}
	return time.Now()
}

// emit logs the pending burst as one event.
func (s *stderrLog) emit() {
	if s.burstLines == 0 {
		return
	}
	s.log.get().Warn().Bytes("stderr", s.burst).Int("lines", s.burstLines).Msg("guest stderr")
	s.burst, s.burstLines = s.burst[:0], 0
}

// shown is what the guest wrote to stderr, as logged, for show_errors.
func (s *stderrLog) shown() []byte { return s.kept }

// flush ends a last line without a newline, logs the pending burst and
// reports what was dropped.
func (s *stderrLog) flush() {
	if s.seen > 0 {
		s.endLine(0)
	}
	s.emit()
	if s.droppedLines == 0 && s.droppedBytes == 0 {
		return
	}
	if s.info != nil {
		// An internal redirect runs several guests for one request.
		s.info.StderrDroppedLines += s.droppedLines
		s.info.StderrDroppedBytes += s.droppedBytes
		return
	}
	s.log.get().Warn().Int("stderr_dropped_lines", s.droppedLines).Int("stderr_dropped_bytes", s.droppedBytes).
		Msg("guest stderr over the limits; rest not logged")
}
