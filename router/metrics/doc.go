// Package metrics owns wasigate's Prometheus metrics: what each request,
// instance, module load and reload adds to them, and the /metrics handler
// the admin listener serves. The router tells it through hooks
// (router.Options.Observe and Running).
//
// It imports host (for the request's Info) and the Prometheus client, and
// must not import chi, wazero or any wasi package.
package metrics
