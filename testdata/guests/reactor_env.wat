;; reactor_env: a reactor whose _initialize reads the environment
;; (environ_sizes_get), as wasi-libc does in a constructor when a program
;; uses `environ`. A snapshot would freeze it, so it must be refused
;; (issue 12). serve prints a CGI answer.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get"
    (func $environ_sizes_get (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "Content-Type: text/plain\n\nserved\n")
  (func (export "_initialize")
    (drop (call $environ_sizes_get (i32.const 64) (i32.const 68))))
  (func (export "serve")
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 33))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
