;; naive: the naive merge that lost tastings. It declares it needs only
;; "mine" and answers every conflict with a merge of mine as it is, so it
;; never sees the revision it would overwrite. The engine accepts its
;; decisions; the store refuses them, and pdktest.StoreRules says so.
(module
  (memory (export "memory") 1)
  (data (i32.const 16) "{\"name\":\"naive\",\"version\":\"1.0.0\",\"needs\":[\"mine\"]}")
  (data (i32.const 128) "{\"action\":\"merge\",\"doc\":{\"tastings\":9}}")
  (func (export "accord_abi_version") (result i32) (i32.const 1))
  (func (export "accord_alloc") (param i32) (result i32) (i32.const 1024))
  ;; 16 << 32 | 51
  (func (export "accord_describe") (result i64) (i64.const 68719476787))
  ;; 128 << 32 | 39
  (func (export "accord_resolve") (param i32 i32) (result i64) (i64.const 549755813927)))
