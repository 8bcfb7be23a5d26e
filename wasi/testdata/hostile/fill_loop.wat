;; One 64 MiB memory.fill per iteration: the loop's own check counts once
;; per iteration, and each fill runs for milliseconds.
(module
  (memory 1024 1024)
  (func (export "_start")
    (loop
      (memory.fill (i32.const 0) (i32.const 7) (i32.const 0x4000000))
      (br 0))))
