;; Valid: a reactor whose _initialize never returns, one 64 MiB memory.fill
;; per iteration. Taking its snapshot must not hold start-up, reload or
;; `wasigate check` past snapshot_init_timeout.
(module
  (memory (export "memory") 1024)
  (func (export "_initialize")
    (loop $spin
      i32.const 0
      i32.const 0
      i32.const 0x4000000
      memory.fill
      br $spin))
  (func (export "serve")))
