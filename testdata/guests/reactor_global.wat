;; reactor_global: a reactor that imports a global (its state is the
;; host's), so a snapshot of it must be refused; its _initialize stores 7
;; and serve prints "init=N" with N the stored digit (issue 12).
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "env" "g" (global i32))
  (memory (export "memory") 1)
  (data (i32.const 16) "Content-Type: text/plain\n\ninit=0\n")
  (func (export "_initialize") (i32.store8 (i32.const 47) (i32.const 55)))
  (func (export "serve")
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 33))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
