;; table.fill of a million elements per iteration.
(module
  (table 1000000 funcref)
  (func (export "_start")
    (loop
      (table.fill 0 (i32.const 0) (ref.null func) (i32.const 1000000))
      (br 0))))
