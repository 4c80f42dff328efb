;; trap-unreachable: prints one line, then executes `unreachable` (trap UNREACHABLE).
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; iovec { buf = 16, len = 47 } at 0; the message at 16
  (data (i32.const 0) "\10\00\00\00\2f\00\00\00")
  (data (i32.const 16) "trap-unreachable: about to execute unreachable\n")
  (func $say
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "_start") (call $say) (unreachable)))
