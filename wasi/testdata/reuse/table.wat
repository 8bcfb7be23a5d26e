;; A guest whose code changes its table: never reused (wasi/reuse_test.go).
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (table $t 2 funcref)
  (func $f)
  (elem declare func $f)
  (func (export "run") (table.set $t (i32.const 0) (ref.func $f)))
)
