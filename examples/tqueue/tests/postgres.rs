//! TQueue on PostgreSQL: the conformance suite on a throwaway PostgreSQL per test (skipped,
//! saying so, where the machine has none).

mod conformance;
mod support;

use support::*;

conformance::suite!(Store::postgres());
