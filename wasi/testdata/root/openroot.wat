;; A guest that opens the empty root "/" (preopened after its one volume,
;; at fd 4) 100,000 times without closing it, and
;; prints how many opens succeeded as a decimal number
;; (wasi/rootfolder_test.go, TestEmptyRootFilesCap).
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open" (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 700) ".")
  (func (export "run") (local $i i32) (local $ok i32) (local $p i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (i32.const 100000)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        ;; oflags 2: O_DIRECTORY
        (if (i32.eqz (call $path_open (i32.const 4) (i32.const 0) (i32.const 700) (i32.const 1) (i32.const 0)
              (i64.const -1) (i64.const -1) (i32.const 0) (i32.const 800)))
          (then (local.set $ok (i32.add (local.get $ok) (i32.const 1)))))
        (br $next)))
    ;; the count in decimal, backwards from 1020
    (local.set $p (i32.const 1020))
    (i32.store8 (local.get $p) (i32.const 10))
    (loop $digit
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i32.store8 (local.get $p) (i32.add (i32.const 48) (i32.rem_u (local.get $ok) (i32.const 10))))
      (local.set $ok (i32.div_u (local.get $ok) (i32.const 10)))
      (br_if $digit (local.get $ok)))
    (i32.store (i32.const 100) (local.get $p))
    (i32.store (i32.const 104) (i32.sub (i32.const 1021) (local.get $p)))
    (drop (call $fd_write (i32.const 1) (i32.const 100) (i32.const 1) (i32.const 108))))
)
