package cgi

import (
	"context"

	"github.com/rs/zerolog"

	"github.com/wasigate/wasigate/host"
	"github.com/wasigate/wasigate/wasi/internal/outbound"
)

// withObserver gives a run the observer of its outbound HTTP requests
// (cmd/wasigate/DECISIONS.md#outbound-http-is-denied-by-default-and-checked-after-dns):
// one log event per request on the request's logger, which carries the
// request id, naming the route and module the host recorded, and the
// metrics hook.
func withObserver(ctx context.Context, metric func(tenant, host, outcome string)) context.Context {
	info := host.InfoFrom(ctx)
	log := zerolog.Ctx(ctx)
	return outbound.WithObserver(ctx, func(ev outbound.Event) {
		e := log.Info()
		if ev.Outcome != "ok" {
			e = log.Warn()
		}
		e = e.Str("route", info.Route).Str("module", info.Module)
		if info.Tenant != "" {
			e = e.Str("tenant", info.Tenant)
		}
		e = e.Str("method", ev.Method).Str("host", ev.Host).Int("status", ev.Status).
			Int64("bytes", ev.Bytes).Dur("duration", ev.Duration).Str("outcome", ev.Outcome)
		if ev.Reason != "" {
			e = e.Str("reason", ev.Reason)
		}
		if ev.Err != nil {
			e = e.AnErr("error", ev.Err)
		}
		e.Msg("outbound request")
		if metric != nil {
			h := ev.Host
			if ev.Outcome == "refused" && (ev.Reason == "host" || ev.Reason == "invalid") {
				// The guest chose it: no label per name it makes up.
				h = "other"
			}
			metric(info.Tenant, h, ev.Outcome)
		}
	})
}
