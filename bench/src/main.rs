//! The benchmark suite (placeholder: being written).
fn main() {}
