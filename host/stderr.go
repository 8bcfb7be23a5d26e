package host

import (
	"bytes"
)

const (
	maxStderrLine  = 4 << 10  // longer lines are cut, and marked so
	maxStderrBytes = 64 << 10 // per request; the rest is counted, not logged
)

// stderrLog turns a guest's stderr into one log event per line, tagged
// with the request's route, module and request id.
type stderrLog struct {
	log     *requestLog
	line    []byte
	total   int
	dropped int
}

func (s *stderrLog) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		chunk := p
		if i >= 0 {
			chunk = p[:i]
		}
		if s.total >= maxStderrBytes {
			s.dropped += len(chunk)
		} else {
			room := min(maxStderrLine-len(s.line), maxStderrBytes-s.total)
			if room < len(chunk) {
				s.dropped += len(chunk) - max(room, 0)
				chunk = chunk[:max(room, 0)]
			}
			s.line = append(s.line, chunk...)
			s.total += len(chunk)
		}
		if i < 0 {
			break
		}
		s.emit()
		p = p[i+1:]
	}
	return n, nil
}

func (s *stderrLog) emit() {
	s.log.get().Warn().Str("stderr", string(bytes.TrimSuffix(s.line, []byte{'\r'}))).Msg("guest stderr")
	s.line = s.line[:0]
}

// flush logs a last line without a newline and what was dropped.
func (s *stderrLog) flush() {
	if len(s.line) > 0 {
		s.emit()
	}
	if s.dropped > 0 {
		s.log.get().Warn().Int("dropped_bytes", s.dropped).Msg("guest stderr over the limit; rest not logged")
	}
}
