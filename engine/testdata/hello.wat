;; hello: writes "hello from the guest\n" to stdout (WASI fd_write) on
;; every call, then accepts.
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "{\"action\":\"accept\"}")
  (data (i32.const 64) "hello from the guest\n")
  ;; an iovec at 128: {buf 64, len 21}
  (data (i32.const 128) "\40\00\00\00\15\00\00\00")
  (func (export "accord_abi_version") (result i32) (i32.const 1))
  (func (export "accord_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "accord_resolve") (param i32 i32) (result i64)
    (drop (call $fd_write (i32.const 1) (i32.const 128) (i32.const 1) (i32.const 256)))
    ;; 16 << 32 | 19
    (i64.const 68719476755)))
