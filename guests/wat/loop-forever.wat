;; loop-forever: prints one line, then spins in a loop that never ends and never calls
;; the host; only fuel (trap OUT_OF_FUEL), an epoch/interrupt or a kill stops it.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; iovec { buf = 16, len = 23 } at 0; the message at 16
  (data (i32.const 0) "\10\00\00\00\17\00\00\00")
  (data (i32.const 16) "loop-forever: spinning\n")
  (func $say
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (global $n (mut i64) (i64.const 0))
  (func (export "_start") (call $say)
    (loop $l (global.set $n (i64.add (global.get $n) (i64.const 1))) (br $l))))
