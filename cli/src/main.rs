//! `weir`: the weir command-line tool.
fn main() {}
