;; Valid: plain recursion, no loop and no memory. wazero's own check looks
;; at loop headers only, so fib(60) ran on past any deadline.
(module
  (func $fib (param $n i64) (result i64)
    local.get $n
    i64.const 2
    i64.lt_u
    if (result i64)
      local.get $n
    else
      local.get $n
      i64.const 1
      i64.sub
      call $fib
      local.get $n
      i64.const 2
      i64.sub
      call $fib
      i64.add
    end)
  (func (export "_start")
    i64.const 60
    call $fib
    drop))
