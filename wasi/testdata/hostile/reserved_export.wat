;; Exports the name under which wasigate exports its interrupt flag.
(module
  (memory 1)
  (global (export "wasigate.interrupt") (mut i32) (i32.const 0))
  (func (export "_start")))
