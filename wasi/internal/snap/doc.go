// Package snap is the memory guests run in and the snapshot images they
// start from: linear memories carved from address space reserved once and
// pooled per limit (growing never copies; after a call the pages are
// cleared or given back), images of a snapshot's memory kept in a sealed
// memfd and mapped copy-on-write into each memory (or copied, when small
// or without memfd), restored after each call, and the on-disk cache of
// snapshots (Store: the rewritten module and its sparse image, signed with
// the cache's key, pruned when unused). When and how a snapshot is taken stays with the
// wasi package, which owns modules and programs.
//
// It must not import the wasi package, host, router, wasi/cgi or chi.
package snap
