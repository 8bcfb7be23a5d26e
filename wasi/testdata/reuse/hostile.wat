;; A guest that tries to leave something behind for the next request of a
;; reused instance (wasi/reuse_test.go). It counts its runs in memory,
;; reads one action byte from stdin, prints "<runs><pages><global>\n" and
;; then does the action:
;;   n nothing            g count in a global that is not exported
;;   G grow the memory    c close stdout        r renumber stderr onto stdout
;;   0 proc_exit(0)       1 proc_exit(1)        t trap
;;   f open file "a" of the preopen at fd 3 and leave it open (prints the fd)
;;   s leave 3 more bytes of stdin read into memory
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_renumber" (func $fd_renumber (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open" (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (global $g (mut i32) (i32.const 0))
  (data (i32.const 700) "a")
  ;; writes n bytes at 200 to stdout
  (func $print (param $n i32)
    (i32.store (i32.const 100) (i32.const 200))
    (i32.store (i32.const 104) (local.get $n))
    (drop (call $fd_write (i32.const 1) (i32.const 100) (i32.const 1) (i32.const 108))))
  (func $digit (param $at i32) (param $v i32)
    (i32.store8 (local.get $at) (i32.add (i32.const 48) (local.get $v))))
  (func $read (param $to i32) (param $n i32)
    (i32.store (i32.const 120) (local.get $to))
    (i32.store (i32.const 124) (local.get $n))
    (drop (call $fd_read (i32.const 0) (i32.const 120) (i32.const 1) (i32.const 128))))
  (func (export "run") (local $a i32)
    (i32.store (i32.const 300) (i32.add (i32.load (i32.const 300)) (i32.const 1)))
    ;; what an earlier request left read: 0 in a fresh instance
    (i32.store (i32.const 304) (i32.add (i32.load (i32.const 304)) (i32.load8_u (i32.const 500))))
    (call $read (i32.const 500) (i32.const 1))
    (local.set $a (i32.load8_u (i32.const 500)))
    (if (i32.eq (local.get $a) (i32.const 103)) ;; g
      (then (global.set $g (i32.add (global.get $g) (i32.const 1)))))
    (call $digit (i32.const 200) (i32.load (i32.const 300)))
    (call $digit (i32.const 201) (memory.size))
    (call $digit (i32.const 202) (global.get $g))
    (call $digit (i32.const 203) (i32.ne (i32.load (i32.const 304)) (i32.const 0)))
    (i32.store8 (i32.const 204) (i32.const 10))
    (call $print (i32.const 5))
    (if (i32.eq (local.get $a) (i32.const 71)) ;; G
      (then (drop (memory.grow (i32.const 1)))))
    (if (i32.eq (local.get $a) (i32.const 99)) ;; c
      (then (drop (call $fd_close (i32.const 1)))))
    (if (i32.eq (local.get $a) (i32.const 114)) ;; r
      (then (drop (call $fd_renumber (i32.const 2) (i32.const 1)))))
    (if (i32.eq (local.get $a) (i32.const 48)) ;; 0
      (then (call $proc_exit (i32.const 0))))
    (if (i32.eq (local.get $a) (i32.const 49)) ;; 1
      (then (call $proc_exit (i32.const 1))))
    (if (i32.eq (local.get $a) (i32.const 116)) ;; t
      (then unreachable))
    (if (i32.eq (local.get $a) (i32.const 115)) ;; s
      (then (call $read (i32.const 600) (i32.const 3))))
    (if (i32.eq (local.get $a) (i32.const 102)) ;; f
      (then
        (drop (call $path_open (i32.const 3) (i32.const 0) (i32.const 700) (i32.const 1) (i32.const 0)
          (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 800)))
        (call $digit (i32.const 200) (i32.load (i32.const 800)))
        (i32.store8 (i32.const 201) (i32.const 10))
        (call $print (i32.const 2)))))
)
