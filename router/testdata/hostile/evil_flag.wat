;; Invalid as written: it sets global 1, which it never declares. Built with
;; `wat2wasm --no-check`. The deadline rewrite appends a counter (global 0
;; here) and the interrupt flag (global 1), so without validating the
;; original first the rewritten module is valid and clears the flag in a
;; loop: the request never ended and held its slot for good.
(module
  (memory (export "memory") 1)
  (func (export "_start")
    (loop $spin
      i32.const 0
      global.set 1
      br $spin)))
