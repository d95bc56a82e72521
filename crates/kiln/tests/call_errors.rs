//! Calls with the wrong number or types of arguments or results are
//! rejected with an error before any Wasm runs.

use kiln::*;

struct Fixture {
    store: Store<()>,
    instance: Instance,
}

/// `add` counts its calls in global `calls`, so a test can check that a
/// rejected call did not run.
fn fixture() -> Fixture {
    let engine = Engine::default();
    let module = Module::new(
        &engine,
        r#"(module
            (global $calls (export "calls") (mut i32) (i32.const 0))
            (type $t (func (result i32)))
            (func (export "add") (param i32 i32) (result i32)
                (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
                (i32.add (local.get 0) (local.get 1)))
            (func (export "takes_funcref") (param funcref) (result i32) (ref.is_null (local.get 0)))
            (func (export "takes_non_null") (param (ref func)) (result i32) i32.const 1)
            (func (export "takes_typed_ref") (param (ref null $t)) (result i32) i32.const 1)
            (func (export "other_type") (param i32) (result i64) i64.const 0))"#,
    )
    .unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Linker::new(&engine).instantiate(&mut store, &module).unwrap();
    Fixture { store, instance }
}

impl Fixture {
    fn func(&mut self, name: &str) -> Func {
        self.instance.get_func(&mut self.store, name).unwrap()
    }

    fn calls(&mut self) -> i32 {
        self.instance.get_global(&mut self.store, "calls").unwrap().get(&mut self.store).unwrap_i32()
    }

    #[track_caller]
    fn assert_rejected(&mut self, name: &str, params: &[Val], results: usize) -> String {
        let f = self.func(name);
        let mut results = vec![Val::I32(0); results];
        let before = self.calls();
        let err = f.call(&mut self.store, params, &mut results).expect_err("the call is rejected");
        assert_eq!(err.downcast_ref::<Trap>(), None, "a rejected call is not a trap: {err:?}");
        assert_eq!(self.calls(), before, "the function ran");
        format!("{err:#}")
    }
}

#[test]
fn correct_call_succeeds() {
    let mut fx = fixture();
    let add = fx.func("add");
    let mut results = [Val::I32(0)];
    add.call(&mut fx.store, &[Val::I32(2), Val::I32(40)], &mut results).unwrap();
    assert_eq!(results[0].unwrap_i32(), 42);
    assert_eq!(fx.calls(), 1);
}

#[test]
fn too_few_arguments_is_an_error() {
    let mut fx = fixture();
    let text = fx.assert_rejected("add", &[Val::I32(1)], 1);
    assert!(text.contains('2') && text.contains('1'), "the error gives expected and actual counts: {text}");
}

#[test]
fn no_arguments_is_an_error() {
    let mut fx = fixture();
    fx.assert_rejected("add", &[], 1);
}

#[test]
fn too_many_arguments_is_an_error() {
    let mut fx = fixture();
    let text = fx.assert_rejected("add", &[Val::I32(1), Val::I32(2), Val::I32(3)], 1);
    assert!(text.contains('2') && text.contains('3'), "the error gives expected and actual counts: {text}");
}

#[test]
fn argument_of_the_wrong_type_is_an_error() {
    let mut fx = fixture();
    let text = fx.assert_rejected("add", &[Val::I32(1), Val::I64(2)], 1);
    assert!(text.contains("i32") && text.contains("I64"), "the error names both types: {text}");
}

#[test]
fn float_argument_for_an_integer_parameter_is_an_error() {
    let mut fx = fixture();
    fx.assert_rejected("add", &[Val::from(1.0f32), Val::I32(2)], 1);
}

#[test]
fn externref_for_a_funcref_parameter_is_an_error() {
    let mut fx = fixture();
    fx.assert_rejected("takes_funcref", &[Val::ExternRef(None)], 1);
}

#[test]
fn null_for_a_non_nullable_reference_parameter_is_an_error() {
    let mut fx = fixture();
    fx.assert_rejected("takes_non_null", &[Val::FuncRef(None)], 1);
}

#[test]
fn function_of_the_wrong_type_for_a_typed_reference_parameter_is_an_error() {
    let mut fx = fixture();
    // `other_type` is (i32) -> i64, not the parameter's (func (result i32)).
    let other = fx.func("other_type");
    fx.assert_rejected("takes_typed_ref", &[Val::FuncRef(Some(other))], 1);
}

#[test]
fn too_few_result_slots_is_an_error() {
    let mut fx = fixture();
    fx.assert_rejected("add", &[Val::I32(1), Val::I32(2)], 0);
}

#[test]
fn too_many_result_slots_is_an_error() {
    let mut fx = fixture();
    fx.assert_rejected("add", &[Val::I32(1), Val::I32(2)], 2);
}

#[test]
fn typed_func_with_the_wrong_parameters_is_an_error() {
    let mut fx = fixture();
    assert!(fx.instance.get_typed_func::<(i32, i64), i32>(&mut fx.store, "add").is_err());
    assert!(fx.instance.get_typed_func::<i32, i32>(&mut fx.store, "add").is_err());
    assert!(fx.instance.get_typed_func::<(i32, i32, i32), i32>(&mut fx.store, "add").is_err());
}

#[test]
fn typed_func_with_the_wrong_results_is_an_error() {
    let mut fx = fixture();
    assert!(fx.instance.get_typed_func::<(i32, i32), i64>(&mut fx.store, "add").is_err());
    assert!(fx.instance.get_typed_func::<(i32, i32), ()>(&mut fx.store, "add").is_err());
    assert!(fx.instance.get_typed_func::<(i32, i32), (i32, i32)>(&mut fx.store, "add").is_err());
}

#[test]
fn typed_func_of_a_missing_export_is_an_error_naming_it() {
    let mut fx = fixture();
    let err = fx.instance.get_typed_func::<(), ()>(&mut fx.store, "no_such_export").err().expect("error");
    assert!(format!("{err:#}").contains("no_such_export"), "{err:#}");
}

#[test]
fn wrong_argument_count_to_a_host_function_is_an_error() {
    let engine = Engine::default();
    let mut store = Store::new(&engine, 0u32);
    let f = Func::wrap(&mut store, |mut caller: Caller<'_, u32>, x: i32| {
        *caller.data_mut() += 1;
        x
    });
    let mut results = [Val::I32(0)];
    assert!(f.call(&mut store, &[], &mut results).is_err());
    assert!(f.call(&mut store, &[Val::I64(1)], &mut results).is_err());
    assert_eq!(*store.data(), 0, "the host function did not run");
    f.call(&mut store, &[Val::I32(5)], &mut results).unwrap();
    assert_eq!(results[0].unwrap_i32(), 5);
}
