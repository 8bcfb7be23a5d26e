;; A guest that gives the path functions ".." paths at awkward places of
;; its memory (wasi/dotdot_hostile_test.go), with /vvvvvvvv/w preopened at
;; fd 3 so that "../a" becomes the longer "vvvvvvvv/a" in the empty root.
;; For each probe it prints the errno as two digits and "=" when every
;; byte of its memory but the call's output is as before, "!" otherwise:
;;   1 "../a" in the last 4 bytes, the opened descriptor written at 0
;;   2 "../a" right before the descriptor's place, at 100 and 104
;;   3 a path pointer past the end of memory (EFAULT, 21)
;;   4 a path crossing the end of memory (EFAULT)
;;   5 path_readlink of "../a" with a buffer over the whole memory
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open" (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_readlink" (func $path_readlink (param i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1 1)
  (data (i32.const 65532) "../a")
  (data (i32.const 100) "../a")
  ;; the sum of every byte times its place, but [skip, skip+4)
  (func $sum (param $skip i32) (result i64) (local $i i32) (local $s i64)
    (loop $l
      (if (i32.or (i32.lt_u (local.get $i) (local.get $skip)) (i32.ge_u (local.get $i) (i32.add (local.get $skip) (i32.const 4))))
        (then (local.set $s (i64.add (local.get $s)
          (i64.mul (i64.extend_i32_u (i32.load8_u (local.get $i))) (i64.extend_i32_u (i32.add (local.get $i) (i32.const 1))))))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 65536))))
    (local.get $s))
  (func $open (param $p i32) (param $n i32) (param $out i32) (result i32)
    (call $path_open (i32.const 3) (i32.const 0) (local.get $p) (local.get $n) (i32.const 0)
      (i64.const 2) (i64.const 0) (i32.const 0) (local.get $out)))
  ;; prints "EE=" or "EE!" at 4000 and a space
  (func $report (param $errno i32) (param $same i32)
    (i32.store8 (i32.const 4000) (i32.add (i32.const 48) (i32.div_u (local.get $errno) (i32.const 10))))
    (i32.store8 (i32.const 4001) (i32.add (i32.const 48) (i32.rem_u (local.get $errno) (i32.const 10))))
    (i32.store8 (i32.const 4002) (select (i32.const 61) (i32.const 33) (local.get $same)))
    (i32.store8 (i32.const 4003) (i32.const 32))
    (i32.store (i32.const 3000) (i32.const 4000))
    (i32.store (i32.const 3004) (i32.const 4))
    (drop (call $fd_write (i32.const 1) (i32.const 3000) (i32.const 1) (i32.const 3008))))
  (func (export "_start") (local $before i64) (local $e i32)
    (local.set $before (call $sum (i32.const 0)))
    (local.set $e (call $open (i32.const 65532) (i32.const 4) (i32.const 0)))
    (call $report (local.get $e) (i64.eq (local.get $before) (call $sum (i32.const 0))))
    (local.set $before (call $sum (i32.const 104)))
    (local.set $e (call $open (i32.const 100) (i32.const 4) (i32.const 104)))
    (call $report (local.get $e) (i64.eq (local.get $before) (call $sum (i32.const 104))))
    (local.set $before (call $sum (i32.const 0)))
    (local.set $e (call $open (i32.const 70000) (i32.const 4) (i32.const 2000)))
    (call $report (local.get $e) (i64.eq (local.get $before) (call $sum (i32.const 0))))
    (local.set $before (call $sum (i32.const 0)))
    (local.set $e (call $open (i32.const 65534) (i32.const 4) (i32.const 2000)))
    (call $report (local.get $e) (i64.eq (local.get $before) (call $sum (i32.const 0))))
    (local.set $before (call $sum (i32.const 2000)))
    (local.set $e (call $path_readlink (i32.const 3) (i32.const 100) (i32.const 4) (i32.const 0) (i32.const 65536) (i32.const 2000)))
    (call $report (local.get $e) (i32.const 1)))
)
