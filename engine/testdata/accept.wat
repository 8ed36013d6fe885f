;; accept: the smallest well-behaved resolver. It has no _initialize, no
;; accord_describe and no accord_configure, and accepts every conflict.
(module
  (memory (export "memory") 1)
  (data (i32.const 16) "{\"action\":\"accept\",\"reason\":\"ours is older\"}")
  (func (export "accord_abi_version") (result i32) (i32.const 1))
  (func (export "accord_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "accord_resolve") (param i32 i32) (result i64)
    ;; 16 << 32 | 44
    (i64.const 68719476780)))
