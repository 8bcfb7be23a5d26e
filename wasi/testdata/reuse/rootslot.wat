;; A guest that closes the empty root's preopened descriptor (fd 4 beside
;; the volume /v at fd 3) and one that probes it (wasi/reuse_test.go). It
;; reads one action byte from stdin:
;;   c close fd 4, the empty root
;;   p open "a" in the root (fd 4) and "../a" from /v (fd 3), which climbs
;;     into the root; prints both errnos as two digits: "44 44\n" when the
;;     root is there and holds no "a"
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open" (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 700) "a")
  (data (i32.const 710) "../a")
  (func $two (param $at i32) (param $v i32)
    (i32.store8 (local.get $at) (i32.add (i32.const 48) (i32.div_u (local.get $v) (i32.const 10))))
    (i32.store8 (i32.add (local.get $at) (i32.const 1)) (i32.add (i32.const 48) (i32.rem_u (local.get $v) (i32.const 10)))))
  (func $open (param $fd i32) (param $p i32) (param $n i32) (result i32)
    (call $path_open (local.get $fd) (i32.const 0) (local.get $p) (local.get $n) (i32.const 0)
      (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 800)))
  (func (export "run") (local $a i32)
    (i32.store (i32.const 120) (i32.const 500))
    (i32.store (i32.const 124) (i32.const 1))
    (drop (call $fd_read (i32.const 0) (i32.const 120) (i32.const 1) (i32.const 128)))
    (local.set $a (i32.load8_u (i32.const 500)))
    (if (i32.eq (local.get $a) (i32.const 99)) ;; c
      (then (drop (call $fd_close (i32.const 4)))))
    (if (i32.eq (local.get $a) (i32.const 112)) ;; p
      (then
        (call $two (i32.const 200) (call $open (i32.const 4) (i32.const 700) (i32.const 1)))
        (i32.store8 (i32.const 202) (i32.const 32))
        (call $two (i32.const 203) (call $open (i32.const 3) (i32.const 710) (i32.const 4)))
        (i32.store8 (i32.const 205) (i32.const 10))
        (i32.store (i32.const 100) (i32.const 200))
        (i32.store (i32.const 104) (i32.const 6))
        (drop (call $fd_write (i32.const 1) (i32.const 100) (i32.const 1) (i32.const 108))))))
)
