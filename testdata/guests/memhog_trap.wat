;; memhog_trap.wat: grows linear memory one 64 KiB page at a time, touching
;; each new page, until memory.grow returns -1 (the host's memory cap, or the
;; 4 GiB wasm32 limit), then executes `unreachable`. Writes nothing.
(module
  (import "wasi_snapshot_preview1" "proc_exit"
    (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (local $old i32)
    (block $done
      (loop $grow
        (local.set $old (memory.grow (i32.const 1)))
        (br_if $done (i32.eq (local.get $old) (i32.const -1)))
        ;; touch the first byte of the freshly added page
        (i32.store8 (i32.shl (local.get $old) (i32.const 16)) (i32.const 1))
        (br $grow)))
    unreachable))
