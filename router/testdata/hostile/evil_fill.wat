;; Valid: one 64 MiB memory.fill per loop iteration. Counting loop headers
;; alone, a trip through Go came only every 4096 iterations, some 20 s apart.
(module
  (memory (export "memory") 1024)
  (func (export "_start")
    (loop $spin
      i32.const 0
      i32.const 0
      i32.const 0x4000000
      memory.fill
      br $spin)))
