;; flood: by the first letter of the conflict's db, accord_resolve writes
;; to stdout
;;   v: with one fd_write of 1,000,000 iovecs, each the line "x\n"
;;   l: with fd_write in a loop, one line at a time, forever
;;   z: with one fd_write of 1,000,000 empty iovecs
;; and otherwise writes one line and accepts. An iovec is 8 bytes: the
;; million of them fill memory from 64 KiB on (its 130 pages).
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 130)
  (data (i32.const 0) "{\"action\":\"accept\"}")
  (data (i32.const 32) "x\n")
  (func (export "accord_abi_version") (result i32) (i32.const 1))
  (func (export "accord_alloc") (param i32) (result i32) (i32.const 1024))
  (func $iovecs (param $len i32)
    (local $p i32)
    (local.set $p (i32.const 65536))
    (loop $fill
      (i32.store (local.get $p) (i32.const 32))
      (i32.store offset=4 (local.get $p) (local.get $len))
      (local.set $p (i32.add (local.get $p) (i32.const 8)))
      (br_if $fill (i32.lt_u (local.get $p) (i32.const 8065536)))))
  (func $db (param $in i32) (result i32)
    ;; The first byte after `"db":"` in the conflict JSON.
    (local $p i32)
    (local.set $p (local.get $in))
    (block $found
      (loop $scan
        (br_if $found (i32.and
          (i32.eq (i32.load8_u (local.get $p)) (i32.const 100))       ;; d
          (i32.eq (i32.load8_u offset=1 (local.get $p)) (i32.const 98)))) ;; b
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $scan)))
    (i32.load8_u offset=5 (local.get $p)))
  (func (export "accord_resolve") (param $in i32) (param $len i32) (result i64)
    (local $c i32)
    (local.set $c (call $db (local.get $in)))
    (if (i32.eq (local.get $c) (i32.const 118)) ;; v
      (then
        (call $iovecs (i32.const 2))
        (drop (call $fd_write (i32.const 1) (i32.const 65536) (i32.const 1000000) (i32.const 48)))))
    (if (i32.eq (local.get $c) (i32.const 122)) ;; z
      (then
        (call $iovecs (i32.const 0))
        (drop (call $fd_write (i32.const 1) (i32.const 65536) (i32.const 1000000) (i32.const 48)))))
    (if (i32.eq (local.get $c) (i32.const 108)) ;; l
      (then
        (i32.store (i32.const 65536) (i32.const 32))
        (i32.store (i32.const 65540) (i32.const 2))
        (loop $forever
          (drop (call $fd_write (i32.const 1) (i32.const 65536) (i32.const 1) (i32.const 48)))
          (br $forever))))
    (i32.store (i32.const 65536) (i32.const 32))
    (i32.store (i32.const 65540) (i32.const 2))
    (drop (call $fd_write (i32.const 1) (i32.const 65536) (i32.const 1) (i32.const 48)))
    (i64.const 19)))
