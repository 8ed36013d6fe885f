;; oob: accord_resolve answers a pointer and length outside its memory.
(module
  (memory (export "memory") 1)
  (func (export "accord_abi_version") (result i32) (i32.const 1))
  (func (export "accord_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "accord_resolve") (param i32 i32) (result i64)
    ;; 65000 << 32 | 4096: runs past the one 64 KiB page
    (i64.const 279172874244096)))
