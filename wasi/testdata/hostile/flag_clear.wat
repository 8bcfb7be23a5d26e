;; Invalid as given: it writes global 1, which it never declares. The
;; deadline rewrite appends its counter (global 0) and interrupt flag
;; (global 1), so rewritten without validation this module clears the flag
;; at every iteration and never stops. Build with wat2wasm --no-check.
(module
  (memory 1)
  (func (export "_start")
    (loop
      (global.set 1 (i32.const 0))
      (br 0))))
