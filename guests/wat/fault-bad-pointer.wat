;; fault-bad-pointer: prints one line, then calls args_sizes_get with result pointers
;; outside linear memory. wasmtime ends the run with an error ("Pointer out of bounds"),
;; the reference runner exits 134; the call must never write outside the memory.
(module
  (import "wasi_snapshot_preview1" "args_sizes_get"
    (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; iovec { buf = 16, len = 71 } at 0; the message at 16
  (data (i32.const 0) "\10\00\00\00\47\00\00\00")
  (data (i32.const 16) "fault-bad-pointer: calling args_sizes_get with pointers outside memory\n")
  (func $say
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "_start") (call $say)
    (drop (call $args_sizes_get (i32.const -16) (i32.const -8)))))
