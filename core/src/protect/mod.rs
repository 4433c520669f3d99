//! Packet protection (DESIGN.md §3).
