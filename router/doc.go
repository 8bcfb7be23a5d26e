// Package router turns wasigate's configuration (native TOML, or WAGI's
// modules.toml) into sites: chi routers of host handlers, with tenants,
// scripts routing, the limits middleware (request id, access log,
// concurrency, recovery) and live reload. pipeline.go puts the middleware
// in the order a request meets it.
//
// It loads modules through the Loader interface it declares (loader.go) in
// the types of host/seam, which wasi/cgi implements and cmd/wasigate wires
// in: router imports host (and host/seam), chi, zerolog and the TOML
// library, and must not import wazero or any wasi package
// (cmd/wasigate/DECISIONS.md#router-knows-nothing-of-wazero).
package router
