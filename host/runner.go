package host

import (
	"context"

	"github.com/wasigate/wasigate/host/seam"
)

// Invocation is one run of a CGI program: what RFC 3875 gives a script.
// It is declared in package seam, which the module side imports too.
type Invocation = seam.Invocation

// Runner runs one invocation of a program in a fresh sandbox (see
// seam.Runner for what its errors mean). Package host runs guests only
// through it.
type Runner = seam.Runner

// RunnerFunc adapts a function to a Runner.
type RunnerFunc func(ctx context.Context, inv *Invocation) error

// Run implements Runner.
func (f RunnerFunc) Run(ctx context.Context, inv *Invocation) error { return f(ctx, inv) }
