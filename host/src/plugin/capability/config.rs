//! `config`: the plugin's layered config values.

use super::wit::config::Host;
use crate::plugin::state::HostState;

impl Host for HostState {
    fn get(&mut self, key: String) -> Option<String> {
        self.env.config.get(&key).cloned()
    }

    fn all(&mut self) -> Vec<(String, String)> {
        self.env
            .config
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}
