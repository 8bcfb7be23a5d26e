;; nocontent.wat: answers "Status: 204 No Content" and then, wrongly, a
;; body. Exits 0.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; iovec at 0..8, nwritten at 8, message at 16
  (data (i32.const 16) "Status: 204 No Content\n\nstray body\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 35))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
