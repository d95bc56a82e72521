;; The legacy exception instructions (`-W legacy-exceptions`): `try` with
;; `catch` and `catch_all`, `rethrow`, `delegate`, mixed with `try_table`,
;; with exceptions thrown in the same function and by callees.
(module
  (tag $e0)
  (tag $e1 (param i32))
  (tag $e2 (param i32 i64))

  (func $throw1 (param i32) (throw $e1 (local.get 0)))

  ;; The body's result when nothing is thrown.
  (func (export "no-throw") (result i32)
    try (result i32)
      i32.const 7
    catch $e1
    catch_all
      i32.const 0
    end)

  ;; A catch takes the payload; the first clause that matches wins.
  (func (export "catch-payload") (param i32) (result i32)
    try (result i32)
      (call $throw1 (local.get 0))
      i32.const -1
    catch $e0
      i32.const -2
    catch $e1
      i32.const 100
      i32.add
    catch_all
      i32.const -3
    end)

  ;; A throw in the same function jumps to the handler.
  (func (export "local-throw") (param i32 i64) (result i64)
    try (result i64)
      (throw $e2 (local.get 0) (local.get 1))
    catch $e2
      local.set 1
      i64.extend_i32_u
      local.get 1
      i64.add
    end)

  ;; catch_all takes what no catch names.
  (func (export "catch-all") (result i32)
    try (result i32)
      throw $e0
    catch $e1
    catch_all
      i32.const 42
    end)

  ;; An exception no clause takes goes to the enclosing try.
  (func (export "outward") (result i32)
    try (result i32)
      try (result i32)
        (call $throw1 (i32.const 5))
        i32.const -1
      catch $e0
        i32.const -2
      end
    catch $e1
    end)

  ;; rethrow throws the caught exception again, to the enclosing try; from
  ;; a nested block it names the catch by depth.
  (func (export "rethrow") (result i32)
    try (result i32)
      try (result i32)
        (call $throw1 (i32.const 9))
        i32.const -1
      catch $e1
        drop
        block
          rethrow 1
        end
        i32.const -2
      end
    catch $e1
      i32.const 2
      i32.mul
    end)

  ;; An exception thrown in a handler is not caught by the same try.
  (func (export "throw-in-handler") (result i32)
    try (result i32)
      try (result i32)
        throw $e0
      catch $e0
        (call $throw1 (i32.const 3))
        i32.const -1
      catch $e1
        drop
        i32.const -2
      end
    catch $e1
      i32.const 1000
      i32.add
    end)

  ;; delegate hands the body's exceptions to the try at its label,
  ;; skipping the handlers in between.
  (func (export "delegate") (result i32)
    try $outer (result i32)
      try (result i32)
        try (result i32)
          (call $throw1 (i32.const 4))
          i32.const -1
        delegate $outer
      catch $e1
        drop
        i32.const -2
      end
    catch $e1
      i32.const 4000
      i32.add
    end)

  ;; delegate to the function's label hands it to the caller.
  (func $delegate-out (result i32)
    try (result i32)
      (call $throw1 (i32.const 6))
      i32.const -1
    delegate 0)
  (func (export "delegate-to-caller") (result i32)
    try (result i32)
      call $delegate-out
    catch $e1
      i32.const 60
      i32.add
    end)

  ;; Legacy try and try_table nest either way.
  (func (export "mixed") (result i32)
    (block $h (result i32)
      (try_table (result i32) (catch $e1 $h)
        try (result i32)
          (call $throw1 (i32.const 8))
          i32.const -1
        catch $e0
          i32.const -2
        end)))

  ;; Nothing catches: the exception leaves the function.
  (func (export "uncaught") (result i32)
    try (result i32)
      (call $throw1 (i32.const 1))
      i32.const 0
    catch $e0
      i32.const 0
    end)

  ;; Handlers run with the function's locals.
  (func (export "locals") (param i32) (result i32)
    (local $x i32)
    (local.set $x (i32.const 10))
    try
      (local.set $x (i32.const 20))
      (call $throw1 (local.get 0))
      (local.set $x (i32.const 30))
    catch $e1
      local.get $x
      i32.add
      local.set $x
    end
    local.get $x))

(assert_return (invoke "no-throw") (i32.const 7))
(assert_return (invoke "catch-payload" (i32.const 5)) (i32.const 105))
(assert_return (invoke "local-throw" (i32.const 3) (i64.const 4)) (i64.const 7))
(assert_return (invoke "catch-all") (i32.const 42))
(assert_return (invoke "outward") (i32.const 5))
(assert_return (invoke "rethrow") (i32.const 18))
(assert_return (invoke "throw-in-handler") (i32.const 1003))
(assert_return (invoke "delegate") (i32.const 4004))
(assert_return (invoke "delegate-to-caller") (i32.const 66))
(assert_return (invoke "mixed") (i32.const 8))
(assert_exception (invoke "uncaught"))
(assert_return (invoke "locals" (i32.const 2)) (i32.const 22))
