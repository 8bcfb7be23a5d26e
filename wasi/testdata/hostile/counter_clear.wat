;; Invalid as given: it writes global 0, which it never declares (the
;; rewrite's counter), in a loop that makes a call: rewritten without
;; validation, the counter never reaches a trip through Go and the guest
;; stalls every stop-the-world of the process. wat2wasm --no-check.
(module
  (memory 1)
  (func $nop)
  (func (export "_start")
    (loop
      (call $nop)
      (global.set 0 (i32.const 1))
      (br 0))))
