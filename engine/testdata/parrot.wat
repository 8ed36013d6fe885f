;; parrot: answers every conflict with the bytes of its parameters, so one
;; module can return any decision, well-formed or not. accord_configure
;; copies the parameters to offset 32768; accord_resolve returns them.
(module
  (memory (export "memory") 1)
  (global $len (mut i32) (i32.const 0))
  (data (i32.const 16) "{\"name\":\"parrot\",\"version\":\"1.0.0\",\"needs\":[\"theirs\"]}")
  (data (i32.const 128) "{}")
  (func (export "accord_abi_version") (result i32) (i32.const 1))
  (func (export "accord_alloc") (param $size i32) (result i32) (i32.const 1024))
  (func (export "accord_describe") (result i64)
    ;; 16 << 32 | 54
    (i64.const 68719476790))
  (func (export "accord_configure") (param $ptr i32) (param $size i32) (result i64)
    (memory.copy (i32.const 32768) (local.get $ptr) (local.get $size))
    (global.set $len (local.get $size))
    ;; 128 << 32 | 2: "{}"
    (i64.const 549755813890))
  (func (export "accord_resolve") (param i32 i32) (result i64)
    (i64.or (i64.const 140737488355328) ;; 32768 << 32
      (i64.extend_i32_u (global.get $len)))))
