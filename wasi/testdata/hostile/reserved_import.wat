;; Imports from a module name wasigate reserves.
(module
  (import "wasigate.host" "f" (func))
  (memory 1)
  (func (export "_start")))
