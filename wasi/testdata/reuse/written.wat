;; A guest that writes its memory in every way a request can, for the
;; tests of the reset of reused instances (reset_track_test.go). Each
;; request first prints a hash of its whole memory (which a reset instance
;; must print the same as a fresh one), then reads one action from stdin:
;;   n  nothing
;;   f  memory.fill over pages 48-51
;;   c  memory.copy of pages 16-17 over pages 80-81
;;   w  a byte of page 112 written, then its first value written back
;;   W  a byte of page 112 written
;;   r  file /v/a read into pages 144-145 (the kernel's copy to user memory)
;;   s  the rest of stdin read into page 176 (the host's copy)
;;   G  the memory grown by a page, which is written
(module
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))
  (memory (export "memory") 64)
  (data (i32.const 128) "a")
  (data (i32.const 0x10000) "image bytes on page 16")
  (data (i32.const 0x11ff0) "and the end of page 17")
  (data (i32.const 0x30010) "page 48")
  (data (i32.const 0x70000) "page 112")
  (data (i32.const 0x3f0000) "the last page")

  (func $hash (result i64)
    (local $i i32) (local $h i64)
    (loop $l
      (local.set $h (i64.add (i64.mul (local.get $h) (i64.const 1099511628211))
        (i64.xor (i64.load (local.get $i)) (i64.extend_i32_u (local.get $i)))))
      (local.set $i (i32.add (local.get $i) (i32.const 8)))
      (br_if $l (i32.lt_u (local.get $i) (i32.mul (memory.size) (i32.const 65536)))))
    (local.get $h))

  ;; prints h as 16 hex digits and a newline, from page 0
  (func $print (param $h i64)
    (local $i i32) (local $d i32)
    (loop $l
      (local.set $d (i32.wrap_i64 (i64.and (i64.shr_u (local.get $h)
        (i64.extend_i32_u (i32.mul (i32.sub (i32.const 15) (local.get $i)) (i32.const 4)))) (i64.const 15))))
      (i32.store8 (i32.add (i32.const 64) (local.get $i))
        (select (i32.add (local.get $d) (i32.const 48)) (i32.add (local.get $d) (i32.const 87))
          (i32.lt_u (local.get $d) (i32.const 10))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 16))))
    (i32.store8 (i32.const 80) (i32.const 10))
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const 17))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 16))))

  ;; reads up to n bytes from fd into p
  (func $read (param $fd i32) (param $p i32) (param $n i32)
    (i32.store (i32.const 0) (local.get $p))
    (i32.store (i32.const 4) (local.get $n))
    (drop (call $fd_read (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 16))))

  (func (export "run")
    (local $a i32) (local $b i32)
    (call $print (call $hash))
    (call $read (i32.const 0) (i32.const 32) (i32.const 1))
    (local.set $a (i32.load8_u (i32.const 32)))
    (if (i32.eq (local.get $a) (i32.const 102)) ;; f
      (then (memory.fill (i32.const 0x30000) (i32.const 0xab) (i32.const 0x3064))))
    (if (i32.eq (local.get $a) (i32.const 99)) ;; c
      (then (memory.copy (i32.const 0x50000) (i32.const 0x10000) (i32.const 0x2000))))
    (if (i32.eq (local.get $a) (i32.const 119)) ;; w
      (then
        (local.set $b (i32.load8_u (i32.const 0x70001)))
        (i32.store8 (i32.const 0x70001) (i32.const 0x5a))
        (i32.store8 (i32.const 0x70001) (local.get $b))))
    (if (i32.eq (local.get $a) (i32.const 87)) ;; W
      (then (i32.store8 (i32.const 0x70001) (i32.add (i32.load8_u (i32.const 0x70001)) (i32.const 1)))))
    (if (i32.eq (local.get $a) (i32.const 114)) ;; r
      (then
        (drop (call $path_open (i32.const 3) (i32.const 0) (i32.const 128) (i32.const 1)
          (i32.const 0) (i64.const -1) (i64.const -1) (i32.const 0) (i32.const 24)))
        (call $read (i32.load (i32.const 24)) (i32.const 0x90000) (i32.const 0x2000))
        (drop (call $fd_close (i32.load (i32.const 24))))))
    (if (i32.eq (local.get $a) (i32.const 115)) ;; s
      (then (call $read (i32.const 0) (i32.const 0xb0000) (i32.const 0x1000))))
    (if (i32.eq (local.get $a) (i32.const 71)) ;; G
      (then
        (drop (memory.grow (i32.const 1)))
        (i32.store (i32.const 0x400010) (i32.const 1)))))
)
