;; trap-stack-overflow: prints one line, then recurses without bound; every frame
;; keeps a live local so the call cannot become a loop (trap STACK_OVERFLOW).
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; iovec { buf = 16, len = 46 } at 0; the message at 16
  (data (i32.const 0) "\10\00\00\00\2e\00\00\00")
  (data (i32.const 16) "trap-stack-overflow: about to recurse forever\n")
  (func $say
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func $deep (param $n i64) (result i64)
    (i64.add (call $deep (i64.add (local.get $n) (i64.const 1))) (local.get $n)))
  (func (export "_start") (call $say) (drop (call $deep (i64.const 0)))))
