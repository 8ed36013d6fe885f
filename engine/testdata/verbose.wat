;; verbose: accord_configure refuses any parameters but {} with an error
;; of 4 MiB; accord_resolve answers an action of 4 MiB.
(module
  (memory (export "memory") 160)
  (data (i32.const 0) "{}")
  (data (i32.const 65536) "{\"error\":\"")
  (data (i32.const 5242880) "{\"action\":\"")
  (func (export "accord_abi_version") (result i32) (i32.const 1))
  (func (export "accord_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "accord_configure") (param $p i32) (param $len i32) (result i64)
    (if (i32.le_u (local.get $len) (i32.const 2))
      (then (return (i64.const 2))))
    (memory.fill (i32.const 65546) (i32.const 97) (i32.const 4194304))
    (i32.store16 (i32.const 4259850) (i32.const 0x7d22)) ;; "}
    (i64.or (i64.shl (i64.const 65536) (i64.const 32)) (i64.const 4194316)))
  (func (export "accord_resolve") (param i32 i32) (result i64)
    (memory.fill (i32.const 5242891) (i32.const 97) (i32.const 4194304))
    (i32.store16 (i32.const 9437195) (i32.const 0x7d22)) ;; "}
    (i64.or (i64.shl (i64.const 5242880) (i64.const 32)) (i64.const 4194317))))
