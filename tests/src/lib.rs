//! Test support: the broker harness shared by the integration tests.
