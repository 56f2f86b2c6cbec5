//! `clock`: wall-clock milliseconds.

use super::wit::clock::Host;
use crate::plugin::state::HostState;

impl Host for HostState {
    fn now_ms(&mut self) -> u64 {
        crate::time::now_ms()
    }
}
