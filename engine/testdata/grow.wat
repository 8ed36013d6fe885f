;; grow: accord_resolve asks for 64 MiB more memory and traps when it is
;; refused, as a guest whose allocator runs dry would.
(module
  (memory (export "memory") 1)
  (func (export "accord_abi_version") (result i32) (i32.const 1))
  (func (export "accord_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "accord_resolve") (param i32 i32) (result i64)
    (if (i32.eq (memory.grow (i32.const 1024)) (i32.const -1))
      (then unreachable))
    (i64.const 0)))
