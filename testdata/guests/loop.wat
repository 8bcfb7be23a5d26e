;; loop.wat: spins forever before writing anything. A host must stop it
;; (deadline / context cancellation) and answer with an error status.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (loop $forever
      (br $forever))))
