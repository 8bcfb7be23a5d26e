;; Invalid as written: it clears global 0, which it never declares (the
;; deadline rewrite's counter once appended), in a loop that makes a call,
;; so the count never reaches a trip through Go. Built with
;; `wat2wasm --no-check`. It stalled every stop-the-world of the process.
(module
  (memory (export "memory") 1)
  (func $nothing)
  (func (export "_start")
    (loop $spin
      i32.const 0
      global.set 0
      call $nothing
      br $spin)))
