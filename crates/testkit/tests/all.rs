//! Integration tests: the scripted server over real sockets, as clients see it.

// Helpers outside `#[test]` functions set up sockets, files and processes; a failure
// there is a test failure, so panicking is the point.
#![allow(clippy::unwrap_used)]

mod suite;
