// Package hostlock holds the file locks one guest instance sets through
// the wasigate_lock host module: POSIX advisory byte-range locks (the
// ones sqlite's unix VFS sets for its SHARED, RESERVED, PENDING and
// EXCLUSIVE states) on the host files behind the guest's volumes.
//
// WASI preview 1 has no locks, and wazero gives the host no way to find
// the host file behind a guest's descriptor, so a guest names the file by
// its guest path. A Table resolves the path against the instance's
// mounts (inside their os.Root: never outside a volume), opens the host
// file once per instance, and sets the lock on that descriptor with
// Linux's open file description locks (F_OFD_SETLK): they are owned by
// the descriptor, not the process, so two instances of one server
// exclude each other, and they conflict with the classic fcntl locks of
// native programs and other servers on the same machine. Closing the
// Table closes the descriptors, which releases every lock the instance
// held however it ended.
package hostlock
