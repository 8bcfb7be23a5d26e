;; loops.wat: the loop shapes the deadline instrumentation treats apart
;; (issue 13), for TestInstrumentLoops and as a FuzzInstrument seed. Each
;; export takes no parameters, loops more than 4096 times (past the 4096
;; checks between two trips through Go) and returns a value that depends
;; on every iteration. Loops without a call are wrapped by the rewriter and
;; their branches past the loop renumbered; the others keep their check in
;; the header.
(module
  (type $step (func (param i32) (result i32)))
  (memory (export "memory") 1)
  (func $inc (param i32) (result i32) (i32.add (local.get 0) (i32.const 1)))

  ;; A loop with a result, left at its end (do-while).
  (func (export "result") (result i32)
    (local $i i32)
    (loop $l (result i32)
      (local.set $i (i32.add (local.get $i) (i32.const 3)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 13500)))
      (local.get $i)))

  ;; A loop left by a branch carrying a value to a block around it.
  (func (export "exit_value") (result i32)
    (local $i i32)
    (block $out (result i32)
      (loop $l
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $out (i32.mul (local.get $i) (i32.const 7))
          (i32.eq (local.get $i) (i32.const 4500)))
        (br $l))
      (i32.const -1)))

  ;; Nested loops without calls, the inner one left by a br_table whose
  ;; targets are the inner loop, the outer loop and the function's block.
  (func (export "nest_table") (result i32)
    (local $i i32) (local $j i32) (local $sum i32)
    (block $done
      (loop $outer
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (local.set $j (i32.const 0))
        (loop $inner
          (local.set $sum (i32.add (i32.mul (local.get $sum) (i32.const 3)) (local.get $j)))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br_table $inner $outer $done
            (select
              (i32.const 0)
              (select (i32.const 2) (i32.const 1) (i32.ge_u (local.get $i) (i32.const 90)))
              (i32.lt_u (local.get $j) (i32.const 50)))))))
    (i32.add (local.get $sum) (local.get $i)))

  ;; An outer loop with a call around an inner loop without one.
  (func (export "call_outer") (result i32)
    (local $i i32) (local $j i32) (local $acc i32)
    (loop $outer
      (local.set $acc (call $inc (local.get $acc)))
      (local.set $j (i32.const 0))
      (loop $inner
        (local.set $acc (i32.xor (i32.mul (local.get $acc) (i32.const 31)) (local.get $j)))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br_if $inner (i32.lt_u (local.get $j) (i32.const 90))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $outer (i32.lt_u (local.get $i) (i32.const 50))))
    (local.get $acc))

  ;; A loop whose block type is a type index with a parameter: the count
  ;; goes round the loop on the stack.
  (func (export "typed") (result i32)
    (local $n i32)
    i32.const 0
    loop $l (type $step)
      i32.const 1
      i32.add
      local.tee $n
      local.get $n
      i32.const 4500
      i32.lt_u
      br_if $l
    end)

  ;; A loop left by return from inside a nested block.
  (func (export "exit_return") (result i32)
    (local $i i32)
    (loop $l
      (block $b
        (local.set $i (i32.add (local.get $i) (i32.const 2)))
        (br_if $b (i32.lt_u (local.get $i) (i32.const 9000)))
        (return (local.get $i)))
      (br $l))
    (i32.const -1)))
