// Package router turns wasigate's configuration (native TOML, or WAGI's
// modules.toml) into a chi router of host handlers: it compiles every
// module through package wasi, binds each route's limits, volumes and
// environment, and wraps the routes in the server's middleware (request id,
// access log, limits, recovery).
package router
