//! The weir wire format (DESIGN.md §3).
