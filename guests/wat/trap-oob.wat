;; trap-oob: prints one line, then loads 4 bytes at 0xFFFFFFF0, far outside its
;; one-page memory (trap MEMORY_OUT_OF_BOUNDS).
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; iovec { buf = 16, len = 46 } at 0; the message at 16
  (data (i32.const 0) "\10\00\00\00\2e\00\00\00")
  (data (i32.const 16) "trap-oob: about to load outside linear memory\n")
  (func $say
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "_start") (call $say) (drop (i32.load (i32.const -16)))))
