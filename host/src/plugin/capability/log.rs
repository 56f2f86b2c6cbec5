//! `log`: plugin log lines into the gateway's tracing, tagged with the plugin.

use super::wit::log::{Host, Level};
use crate::plugin::state::HostState;

/// Longest log line kept; the rest is cut so a plugin cannot flood the logs.
const MAX_LINE: usize = 4096;

impl Host for HostState {
    fn log(&mut self, level: Level, message: String) {
        let _span = tracing::info_span!("host.log.log").entered();
        let plugin = self.env.name.as_str();
        let mut message = message;
        if message.len() > MAX_LINE {
            let cut = (0..=MAX_LINE)
                .rev()
                .find(|&i| message.is_char_boundary(i))
                .unwrap_or(0);
            message.truncate(cut);
            message.push('…');
        }
        match level {
            Level::Trace => tracing::trace!(plugin, "{message}"),
            Level::Debug => tracing::debug!(plugin, "{message}"),
            Level::Info => tracing::info!(plugin, "{message}"),
            Level::Warn => tracing::warn!(plugin, "{message}"),
            Level::Error => tracing::error!(plugin, "{message}"),
        }
    }
}
