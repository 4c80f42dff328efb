(module
  (memory (export "memory") 1 65536)
  (table 1 funcref)
  (func (export "_start")
    (loop $l
      (br_if $l (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
    (drop (table.grow (ref.null func) (i32.const 100000)))))
