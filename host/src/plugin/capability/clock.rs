//! `clock`: wall-clock milliseconds.

use super::wit::clock::Host;
use crate::plugin::state::HostState;

impl Host for HostState {
    fn now_ms(&mut self) -> u64 {
        let _span = tracing::info_span!("host.clock.now_ms").entered();
        crate::time::now_ms()
    }
}
