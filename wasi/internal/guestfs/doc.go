// Package guestfs is what a guest sees of the host's folders: volumes
// confined to an os.Root (read-only through wazero's adapter, writable
// through rootFS), only regular files and folders, a scratch folder under
// a quota of bytes, the empty read-only "/" after the volumes, and one
// counter per instance that caps its open files. Roots shares one os.Root
// per folder between the programs that mount it.
//
// It must not import the wasi package, host, router, wasi/cgi or chi.
package guestfs
