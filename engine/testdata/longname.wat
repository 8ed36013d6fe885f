;; longname: accord_describe answers a name of 4 MiB.
(module
  (memory (export "memory") 80)
  (data (i32.const 65536) "{\"name\":\"")
  (func (export "accord_abi_version") (result i32) (i32.const 1))
  (func (export "accord_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "accord_describe") (result i64)
    (memory.fill (i32.const 65545) (i32.const 97) (i32.const 4194304))
    (i32.store16 (i32.const 4259849) (i32.const 0x7d22)) ;; "}
    (i64.or (i64.shl (i64.const 65536) (i64.const 32)) (i64.const 4194315)))
  (func (export "accord_resolve") (param i32 i32) (result i64) (i64.const 0)))
