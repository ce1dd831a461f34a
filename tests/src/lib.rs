//! End-to-end tests against the real `pont` binary live in `tests/tests/`.
