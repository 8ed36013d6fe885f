;; spinstart: accord_resolve always traps; _initialize reads one random
;; byte and, unless it is 0, never returns. The tests' random source
;; yields 0 to the first instance only, so the plugin loads, and then
;; every replacement of a failed instance spins until StartTimeout.
(module
  (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_initialize")
    (drop (call $random_get (i32.const 0) (i32.const 1)))
    (if (i32.load8_u (i32.const 0))
      (then (loop $forever (br $forever)))))
  (func (export "accord_abi_version") (result i32) (i32.const 1))
  (func (export "accord_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "accord_resolve") (param i32 i32) (result i64) (unreachable)))
