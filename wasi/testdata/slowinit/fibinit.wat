;; A reactor whose _initialize computes fib(N) by plain recursion: no loop,
;; so wazero's own check (deadline = "wazero") never stops it, and it ends
;; on its own a few seconds later. Built by the test with wat2wasm.
(module
  (memory (export "memory") 1)
  (func $fib (param $n i32) (result i32)
    local.get $n
    i32.const 2
    i32.lt_u
    if (result i32)
      local.get $n
    else
      local.get $n
      i32.const 1
      i32.sub
      call $fib
      local.get $n
      i32.const 2
      i32.sub
      call $fib
      i32.add
    end)
  (func (export "_initialize")
    i32.const 0
    i32.const 40
    call $fib
    i32.store)
  (func (export "serve")))
