;; reactor_trap: a reactor whose _initialize traps (unreachable); serve
;; prints a CGI answer. A snapshot of it must be refused, and the program
;; run as before (issue 12): every request traps in _initialize.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "Content-Type: text/plain\n\nserved\n")
  (func (export "_initialize") unreachable)
  (func (export "serve")
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 33))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
