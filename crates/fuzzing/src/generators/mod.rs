//! Generators: unstructured bytes in, structured test cases out.
//!
//! Each takes `&mut arbitrary::Unstructured` and returns
//! `arbitrary::Result`, so libFuzzer's input and a fixed-seed byte buffer
//! drive them the same way. None of them runs Kiln: oracles do that.

pub mod api_calls;
pub mod config;
pub mod gc_ops;
pub mod instantiate_many;
pub mod smith;
pub mod table_ops;
pub mod values;
