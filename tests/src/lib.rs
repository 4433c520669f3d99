//! Shared harness for weir's cross-crate integration and scenario tests (the tests live in
//! `tests/tests/`).
#![forbid(unsafe_code)]
