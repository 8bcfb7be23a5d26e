;; A start section that never ends: it runs inside instantiation, before
;; the host could reach an interrupt flag, unless the rewrite moves it.
(module
  (memory 1)
  (func $spin (loop (br 0)))
  (start $spin)
  (func (export "_start")))
