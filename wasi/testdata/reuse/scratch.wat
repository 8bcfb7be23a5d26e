;; A guest that leaves what it did to its scratch folder where the next
;; request of a reused instance can read it back through the preopen's
;; descriptor itself (wasi/reuse_test.go, TestReuseScratchPreopen). The
;; scratch folder is the only preopen, at fd 3. It reads one action byte
;; from stdin:
;;   w  creates the file "secret-alice" in the folder, closes it, and lists
;;      the folder with fd_readdir(3, cookie 0): wazero caches the listing
;;      on the preopen's descriptor; prints "ok"
;;   l  lists the folder with fd_readdir(3, cookie 2), a continuation of an
;;      earlier listing: prints the first name it gets, or "-" when the
;;      call fails (as it does in a fresh instance, which listed nothing)
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_readdir" (func $fd_readdir (param i32 i32 i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open" (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 700) "secret-alice")
  (data (i32.const 720) "ok\n-\n")
  ;; writes n bytes at p to stdout
  (func $print (param $p i32) (param $n i32)
    (i32.store (i32.const 100) (local.get $p))
    (i32.store (i32.const 104) (local.get $n))
    (drop (call $fd_write (i32.const 1) (i32.const 100) (i32.const 1) (i32.const 108))))
  (func (export "run") (local $a i32) (local $len i32)
    (i32.store (i32.const 120) (i32.const 500))
    (i32.store (i32.const 124) (i32.const 1))
    (drop (call $fd_read (i32.const 0) (i32.const 120) (i32.const 1) (i32.const 128)))
    (local.set $a (i32.load8_u (i32.const 500)))
    (if (i32.eq (local.get $a) (i32.const 119)) ;; w
      (then
        (drop (call $path_open (i32.const 3) (i32.const 0) (i32.const 700) (i32.const 12) (i32.const 1)
          (i64.const -1) (i64.const -1) (i32.const 0) (i32.const 800)))
        (drop (call $fd_close (i32.load (i32.const 800))))
        (drop (call $fd_readdir (i32.const 3) (i32.const 1000) (i32.const 2000) (i64.const 0) (i32.const 900)))
        (call $print (i32.const 720) (i32.const 3))))
    (if (i32.eq (local.get $a) (i32.const 108)) ;; l
      (then
        (if (i32.or
              (call $fd_readdir (i32.const 3) (i32.const 1000) (i32.const 2000) (i64.const 2) (i32.const 900))
              (i32.lt_u (i32.load (i32.const 900)) (i32.const 24)))
          (then (call $print (i32.const 723) (i32.const 2)))
          (else
            ;; the first entry's name follows its 24-byte header
            (local.set $len (i32.load (i32.const 1016)))
            (i32.store8 (i32.add (i32.const 1024) (local.get $len)) (i32.const 10))
            (call $print (i32.const 1024) (i32.add (local.get $len) (i32.const 1))))))))
)
