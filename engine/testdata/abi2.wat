;; abi2: speaks ABI version 2, which this host does not.
(module
  (memory (export "memory") 1)
  (func (export "accord_abi_version") (result i32) (i32.const 2))
  (func (export "accord_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "accord_resolve") (param i32 i32) (result i64) (i64.const 0)))
