;; counter: keeps state from call to call, so its decisions depend on the
;; conflicts it saw before: it retries after as many milliseconds as it
;; has answered calls. pdktest's determinism check catches it.
(module
  (memory (export "memory") 1)
  (global $calls (mut i32) (i32.const 0))
  (data (i32.const 16) "{\"name\":\"counter\",\"version\":\"1.0.0\",\"needs\":[]}")
  (data (i32.const 128) "{\"action\":\"retry\",\"delay_ms\":0}")
  (func (export "accord_abi_version") (result i32) (i32.const 1))
  (func (export "accord_alloc") (param i32) (result i32) (i32.const 1024))
  ;; 16 << 32 | 47
  (func (export "accord_describe") (result i64) (i64.const 68719476783))
  (func (export "accord_resolve") (param i32 i32) (result i64)
    ;; the digit of delay_ms (byte 157) is '0' + calls, calls < 10
    (i32.store8 (i32.const 157) (i32.add (i32.const 48) (i32.rem_u (global.get $calls) (i32.const 10))))
    (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
    ;; 128 << 32 | 31
    (i64.const 549755813919)))
