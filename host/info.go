package host

import (
	"context"
	"time"
)

// Info is what the handler learned about one request, for the access log
// and metrics that wrap it. Put one in the request's context with WithInfo.
type Info struct {
	Tenant      string
	Route       string
	Module      string
	Status      int           // the status sent, or 499 if the client went away first
	Reason      Reason        // why the request failed (reason.go); "" when it did not
	Err         error         // what failed, with the detail; logged with Reason
	Instantiate time.Duration // time to create the guest instance
	Redirects   int           // internal redirects followed
	QueueWait   time.Duration // time spent waiting for a concurrency slot

	// What of the guest's stderr was not logged (blank lines, lines and
	// bytes past the per-request caps), for the access log.
	StderrDroppedLines int
	StderrDroppedBytes int
}

type infoKey struct{}

// WithInfo returns a context carrying a fresh Info, and the Info.
func WithInfo(ctx context.Context) (context.Context, *Info) {
	info := &Info{}
	return context.WithValue(ctx, infoKey{}, info), info
}

// InfoContext is a context carrying an Info, for a caller that holds it
// in a struct of its own with its other per-request values, all in one
// allocation (the router's access log). Set Context, the parent, first.
type InfoContext struct {
	context.Context
	Info Info
}

// Value implements context.Context.
func (c *InfoContext) Value(key any) any {
	if key == (infoKey{}) {
		return &c.Info
	}
	return c.Context.Value(key)
}

// infoIn returns the Info in ctx, or nil.
func infoIn(ctx context.Context) *Info {
	info, _ := ctx.Value(infoKey{}).(*Info)
	return info
}

// InfoFrom returns the Info in ctx, or a throwaway one.
func InfoFrom(ctx context.Context) *Info {
	if info, ok := ctx.Value(infoKey{}).(*Info); ok {
		return info
	}
	return &Info{}
}

// report records why a request failed: bad input gets one log event
// naming route, module and request id. When the request carries an Info
// (the router's access log), that event is the access log's, which writes
// Reason and Err; a Handler serving without one logs the failure itself.
func report(ctx context.Context, log *requestLog, reason Reason, err error) {
	if info, ok := ctx.Value(infoKey{}).(*Info); ok {
		info.Reason, info.Err = reason, err
		return
	}
	log.get().Error().Err(err).Str("reason", string(reason)).Msg("request failed")
}
