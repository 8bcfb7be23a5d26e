;; crlf.wat: header injection attempt. The X-Evil header value contains a
;; bare CR (0x0d) followed by text that looks like another header:
;;   "Content-Type: text/plain\nX-Evil: a\rSet-Cookie: pwned=1\n\nbody"
;; A host must never emit a Set-Cookie header because of this.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "Content-Type: text/plain\nX-Evil: a\0dSet-Cookie: pwned=1\n\nbody")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 60))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
