;; badalloc: accord_alloc answers a buffer outside its memory.
(module
  (memory (export "memory") 1)
  (func (export "accord_abi_version") (result i32) (i32.const 1))
  (func (export "accord_alloc") (param i32) (result i32) (i32.const -16))
  (func (export "accord_resolve") (param i32 i32) (result i64) (i64.const 0)))
