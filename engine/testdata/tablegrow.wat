;; tablegrow: accord_resolve grows its funcref table by 0xFFFFFFF0
;; entries (table.grow, from the reference-types proposal), which would
;; ask the host for 32 GiB.
(module
  (memory (export "memory") 1)
  (table $t 1 funcref)
  (func (export "accord_abi_version") (result i32) (i32.const 1))
  (func (export "accord_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "accord_resolve") (param i32 i32) (result i64)
    (drop (table.grow $t (ref.null func) (i32.const 0xFFFFFFF0)))
    (i64.const 0)))
