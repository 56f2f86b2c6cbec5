//! `kv`: the plugin's namespace of the host's key-value store.

use super::wit::kv::{Host, KvError};
use crate::plugin::kv_store;
use crate::plugin::state::HostState;

fn to_wit(e: kv_store::KvError) -> KvError {
    match e {
        e @ kv_store::KvError::QuotaExceeded { .. } => KvError::QuotaExceeded(e.to_string()),
        kv_store::KvError::Unavailable(m) => KvError::Unavailable(m),
    }
}

impl Host for HostState {
    fn get(&mut self, key: String) -> Option<Vec<u8>> {
        let _span = tracing::info_span!("host.kv.get").entered();
        self.off_the_clock(|env| env.kv.get(&key))
    }

    fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), KvError> {
        let _span = tracing::info_span!("host.kv.set").entered();
        self.off_the_clock(|env| env.kv.set(&key, value))
            .map_err(to_wit)
    }

    fn delete(&mut self, key: String) -> Result<(), KvError> {
        let _span = tracing::info_span!("host.kv.delete").entered();
        self.off_the_clock(|env| env.kv.delete(&key))
            .map_err(to_wit)
    }
}
