//! Compile-time route checking: each misuse in `ui/fail` must fail to build with the error
//! in its `.stderr` file (regenerate them with `TRYBUILD=overwrite cargo test --test ui`).

#[test]
fn misuses_are_compile_errors() {
    trybuild::TestCases::new().compile_fail("ui/fail/*.rs");
}
