;; planted: accept's exports and layout, but accord_resolve never returns.
;; TestCacheIntegrity plants its compiled code in accept's entry of the
;; compilation cache.
(module
  (memory (export "memory") 1)
  (data (i32.const 16) "{\"action\":\"accept\",\"reason\":\"ours is older\"}")
  (func (export "accord_abi_version") (result i32) (i32.const 1))
  (func (export "accord_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "accord_resolve") (param i32 i32) (result i64)
    (loop $forever (br $forever))
    (i64.const 68719476780)))
