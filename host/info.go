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
	Reason      string        // why the request failed: timeout, output, exit, crash, invalid, body, client, redirect
	Instantiate time.Duration // time to create the guest instance
	Redirects   int           // internal redirects followed
	QueueWait   time.Duration // time spent waiting for a concurrency slot
}

type infoKey struct{}

// WithInfo returns a context carrying a fresh Info, and the Info.
func WithInfo(ctx context.Context) (context.Context, *Info) {
	info := &Info{}
	return context.WithValue(ctx, infoKey{}, info), info
}

// InfoFrom returns the Info in ctx, or a throwaway one.
func InfoFrom(ctx context.Context) *Info {
	if info, ok := ctx.Value(infoKey{}).(*Info); ok {
		return info
	}
	return &Info{}
}
