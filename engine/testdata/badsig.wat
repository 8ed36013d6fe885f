;; badsig: accord_resolve has the wrong signature (i32, i32) -> i32.
(module
  (memory (export "memory") 1)
  (func (export "accord_abi_version") (result i32) (i32.const 1))
  (func (export "accord_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "accord_resolve") (param i32 i32) (result i32) (i32.const 0)))
