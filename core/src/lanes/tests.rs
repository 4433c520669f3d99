//! Lane tests.
