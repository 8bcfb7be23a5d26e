;; routes.wat: a WAGI module with several entrypoints and a _routes export.
;; _start, alpha and beta each answer text/plain with their own name as the
;; body ("start\n", "alpha\n", "beta\n"). _routes prints WAGI's sub-route
;; list: "/a alpha", "/b/... beta" and "/c _start".
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; iovec at 0..8, nwritten at 8, messages from 64
  (data (i32.const 64) "Content-Type: text/plain\n\nstart\n")   ;; 32 bytes
  (data (i32.const 128) "Content-Type: text/plain\n\nalpha\n")  ;; 32 bytes
  (data (i32.const 192) "Content-Type: text/plain\n\nbeta\n")   ;; 31 bytes
  (data (i32.const 256) "/a alpha\n/b/... beta\n/c _start\n")   ;; 31 bytes
  (func $write (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "_start") (call $write (i32.const 64) (i32.const 32)))
  (func (export "alpha") (call $write (i32.const 128) (i32.const 32)))
  (func (export "beta") (call $write (i32.const 192) (i32.const 31)))
  (func (export "_routes") (call $write (i32.const 256) (i32.const 31))))
