// Package wptrack tells which pages of a memory were written since they
// were last marked clean, exactly, with the kernel's write-protect
// tracking: a userfaultfd registered for write-protect faults in
// asynchronous mode (UFFD_FEATURE_WP_ASYNC, Linux 6.7), whose faults the
// kernel resolves itself by clearing the page's protect bit, and the
// PAGEMAP_SCAN ioctl of /proc/self/pagemap, which lists the pages whose
// bit is clear and can set it again in the same page-table walk.
//
// Every write to a page clears its bit, whoever makes it: the guest, the
// host through a Go slice, the kernel's copy to user memory in a read()
// syscall. A page that is not listed was not written since it was marked.
//
// Where the kernel lacks any of it, or refuses it (EPERM, ENOSYS, EINVAL),
// Available says why and callers fall back to comparing pages.
package wptrack
