;; A valid module with a global of vector type, which the reset cannot read
;; back whole (wasi/reuse_test.go, TestReuseUnreadableGlobal): its instances
;; cannot be reset, but each request must still be served. run prints
;; "hi" and the global's first lane, counted up by each run of an
;; instance (1 in a fresh one).
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $v (mut v128) (v128.const i32x4 0 0 0 0))
  (data (i32.const 200) "hi ?\n")
  (func (export "run")
    (global.set $v (i32x4.add (global.get $v) (v128.const i32x4 1 0 0 0)))
    (i32.store8 (i32.const 203) (i32.add (i32.const 48) (i32x4.extract_lane 0 (global.get $v))))
    (i32.store (i32.const 100) (i32.const 200))
    (i32.store (i32.const 104) (i32.const 5))
    (drop (call $fd_write (i32.const 1) (i32.const 100) (i32.const 1) (i32.const 108)))))
