;; command: what a Go plugin built without -buildmode=c-shared looks like
;; to the host: a WASI command (it exports _start) and no _initialize, so
;; its runtime would never be set up before accord_resolve is called.
;; The host refuses it at load, naming the build flag.
(module
  (memory (export "memory") 1)
  (data (i32.const 16) "{\"action\":\"accept\"}")
  (func (export "_start"))
  (func (export "accord_abi_version") (result i32) (i32.const 1))
  (func (export "accord_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "accord_resolve") (param i32 i32) (result i64)
    ;; 16 << 32 | 19
    (i64.const 68719476755)))
