package host

import (
	"context"
	"io"
	"time"
)

// Invocation is one run of a CGI program: what RFC 3875 gives a script.
type Invocation struct {
	Args   []string  // argv, argv[0] first
	Env    []string  // KEY=value meta-variables, nothing else
	Stdin  io.Reader // the request body; nil is an empty body
	Stdout io.Writer // the CGI response
	Stderr io.Writer // diagnostics, logged by the host

	// Instantiate is set by the Runner to the time it took to create the
	// instance, for the access log.
	Instantiate time.Duration
}

// Runner runs one invocation of a program in a fresh sandbox and returns
// when it has ended. It must stop the program when ctx is done and then
// return an error wrapping ctx's error or cause.
//
// An error that has a MemoryLimitReached() bool method is a failure after
// the program was refused memory at its limit; one with an ExitCode() int
// method is a non-zero exit; any other error not caused by ctx is a crash
// of the program (a trap).
type Runner interface {
	Run(ctx context.Context, inv *Invocation) error
}

// RunnerFunc adapts a function to a Runner.
type RunnerFunc func(ctx context.Context, inv *Invocation) error

// Run implements Runner.
func (f RunnerFunc) Run(ctx context.Context, inv *Invocation) error { return f(ctx, inv) }
