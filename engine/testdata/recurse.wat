;; recurse: accord_resolve recurses 1,500,000 calls deep (wazero grows
;; the call stack to some 100 MiB for it), then accepts.
(module
  (memory (export "memory") 1)
  (data (i32.const 0) "{\"action\":\"accept\"}")
  (func $down (param $n i32) (result i32)
    (if (result i32) (i32.eqz (local.get $n))
      (then (i32.const 0))
      (else (i32.add (i32.const 1) (call $down (i32.sub (local.get $n) (i32.const 1)))))))
  (func (export "accord_abi_version") (result i32) (i32.const 1))
  (func (export "accord_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "accord_resolve") (param i32 i32) (result i64)
    (drop (call $down (i32.const 1500000)))
    (i64.const 19)))
