;; trap-divzero: prints one line, then divides 7 by 0 with i32.div_u on values the
;; engine cannot fold away (trap INTEGER_DIVISION_BY_ZERO).
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; iovec { buf = 16, len = 38 } at 0; the message at 16
  (data (i32.const 0) "\10\00\00\00\26\00\00\00")
  (data (i32.const 16) "trap-divzero: about to divide by zero\n")
  (func $say
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (global $zero (mut i32) (i32.const 0))
  (func (export "_start") (call $say)
    (drop (i32.div_u (i32.const 7) (global.get $zero)))))
