//! `config`: the plugin's layered config values.

use super::wit::config::Host;
use crate::plugin::state::HostState;

impl Host for HostState {
    fn get(&mut self, key: String) -> Option<String> {
        let _span = tracing::info_span!("host.config.get").entered();
        self.env.config.get(&key).cloned()
    }

    fn all(&mut self) -> Vec<(String, String)> {
        let _span = tracing::info_span!("host.config.all").entered();
        self.env
            .config
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}
