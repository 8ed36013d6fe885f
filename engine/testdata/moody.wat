;; moody: misbehaves on demand, so that one resolver can fail a call and
;; then be asked again. The first letter of the conflict's db picks the
;; misbehaviour; it is byte 44 of the conflict JSON the host encodes for a
;; write/update ({"abi":1,"kind":"write","op":"update","db":"...). Any
;; other letter gets a valid "accept".
;;
;;   l  loops forever                      (timeout)
;;   g  grows memory by 64 MiB, traps if refused (memory limit)
;;   t  executes unreachable               (trap)
;;   s  recurses until the stack overflows (trap)
;;   x  calls WASI proc_exit(3)            (exit, as a panicking Go guest)
;;   o  answers a pointer outside memory   (bad output)
(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "{\"action\":\"accept\",\"reason\":\"ours is older\"}")
  (func (export "accord_abi_version") (result i32) (i32.const 1))
  (func (export "accord_alloc") (param i32) (result i32) (i32.const 1024))
  (func $recurse (param i32) (result i32)
    (i32.add (call $recurse (i32.add (local.get 0) (i32.const 1))) (i32.const 1)))
  (func (export "accord_resolve") (param $ptr i32) (param $len i32) (result i64)
    (local $mode i32)
    (local.set $mode (i32.load8_u (i32.add (local.get $ptr) (i32.const 44))))
    (if (i32.eq (local.get $mode) (i32.const 108)) ;; l
      (then (loop $forever (br $forever))))
    (if (i32.eq (local.get $mode) (i32.const 103)) ;; g
      (then (if (i32.eq (memory.grow (i32.const 1024)) (i32.const -1))
        (then unreachable))))
    (if (i32.eq (local.get $mode) (i32.const 116)) ;; t
      (then unreachable))
    (if (i32.eq (local.get $mode) (i32.const 115)) ;; s
      (then (drop (call $recurse (i32.const 0)))))
    (if (i32.eq (local.get $mode) (i32.const 120)) ;; x
      (then (call $exit (i32.const 3))))
    (if (i32.eq (local.get $mode) (i32.const 111)) ;; o
      ;; 65000 << 32 | 4096: runs past the one 64 KiB page
      (then (return (i64.const 279172874244096))))
    ;; 16 << 32 | 44
    (i64.const 68719476780)))
