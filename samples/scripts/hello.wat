;; hello.wat - a CGI program written directly in WebAssembly text format.
;;
;; No compiler, no libc: it imports one WASI function, fd_write, and writes
;; a complete CGI response (header, blank line, body) to fd 1 (stdout).
;; Returning from _start without calling proc_exit means exit status 0.
(module
  ;; fd_write(fd, iovs, iovs_len, nwritten_out) -> errno
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))

  ;; WASI reads the iovec and string from the module's exported memory.
  (memory (export "memory") 1)

  ;; The response text at offset 16 (41 bytes long).
  (data (i32.const 16) "Content-Type: text/plain\n\nHello from WAT\n")

  (func (export "_start")
    ;; iovec at offset 0: { buf = 16, buf_len = 41 }
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 41))
    ;; Write it to stdout; the number of bytes written lands at offset 8.
    ;; The errno result is dropped: there is nowhere to report an error.
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
)
