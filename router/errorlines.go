package router

import (
	"errors"
)

// ErrorLines flattens the errors errors.Join put together (Build and
// Validate report every problem at once) into one line each, for the log
// and the terminal. Only joins are split: an error wrapping two with
// fmt.Errorf("%w: file: route: %w", ErrConfig, ErrX) unwraps to a list
// too, but its parts alone would lose the file and the route; it is one
// line. A join is told by its text, which is its parts' joined by "\n".
func ErrorLines(err error) []string {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok && isJoin(err, j.Unwrap()) {
		var out []string
		for _, e := range j.Unwrap() {
			out = append(out, ErrorLines(e)...)
		}
		return out
	}
	return []string{err.Error()}
}

// isJoin reports whether err's text is that of errors.Join(parts...).
func isJoin(err error, parts []error) bool {
	return err.Error() == errors.Join(parts...).Error()
}
