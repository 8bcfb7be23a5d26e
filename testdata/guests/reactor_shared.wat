;; reactor_shared: a driver (wasi/driver.go) whose snapshot depends on its
;; init's arguments in all three ways a snapshot module used to bake in:
;; wasigate_init stores argc in a mutable global, writes it into memory
;; and grows the memory by argc pages. wasigate_run prints, as CGI,
;; "g=G m=M p=P" with G the global, M the byte the init wrote and P the
;; memory's pages, each a digit: two snapshots of this module that share
;; one compiled module (wasi/sharedcode.go) must still print their own.
(module
  (import "wasi_snapshot_preview1" "args_sizes_get"
    (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $g (mut i32) (i32.const 48))
  ;; the response at 16; G at 44, M at 48, P at 52
  (data (i32.const 16) "Content-Type: text/plain\n\ng=? m=? p=?\n")
  (func (export "_initialize"))
  (func (export "wasigate_init") (result i32)
    (local $argc i32)
    (drop (call $args_sizes_get (i32.const 0) (i32.const 4)))
    (local.set $argc (i32.load (i32.const 0)))
    (global.set $g (i32.add (local.get $argc) (i32.const 48)))
    (i32.store8 (i32.const 100) (i32.add (local.get $argc) (i32.const 48)))
    (drop (memory.grow (local.get $argc)))
    (i32.const 0))
  (func (export "wasigate_run")
    (i32.store8 (i32.const 44) (global.get $g))
    (i32.store8 (i32.const 48) (i32.load8_u (i32.const 100)))
    (i32.store8 (i32.const 52) (i32.add (memory.size) (i32.const 48)))
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 38))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
