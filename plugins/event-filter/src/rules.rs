//! Who receives an event: the subscriber asked for its type, is one of its
//! target users (when it has any), and the event is at least as severe as
//! the subscriber's minimum (config `min_severity`, per user
//! `min_severity.<userId>`).

use std::collections::HashMap;

use gateway_sdk::{Event, Severity, Subscriber, config};

/// Config key of the default minimum severity.
const MIN_SEVERITY_KEY: &str = "min_severity";
/// Prefix of the per-user minimum severity keys.
const USER_PREFIX: &str = "min_severity.";

/// The minimum severities, read from config once per instance.
#[derive(Debug)]
pub(crate) struct Rules {
    default_min: Severity,
    per_user: HashMap<String, Severity>,
}

/// `value` of config `key` as a severity.
fn severity(key: &str, value: &str) -> Result<Severity, String> {
    Severity::parse(value.trim()).ok_or_else(|| {
        format!("config `{key}` = {value:?}: expected low, medium, high or critical")
    })
}

impl Rules {
    /// Reads `min_severity` (default `low`) and every `min_severity.<userId>`.
    pub(crate) fn from_config() -> Result<Self, String> {
        let mut rules = Self {
            default_min: Severity::Low,
            per_user: HashMap::new(),
        };
        for (key, value) in config::all() {
            if key == MIN_SEVERITY_KEY {
                if !value.trim().is_empty() {
                    rules.default_min = severity(&key, &value)?;
                }
            } else if let Some(user) = key.strip_prefix(USER_PREFIX) {
                if user.is_empty() {
                    return Err(format!(
                        "config `{key}`: the user id after `{USER_PREFIX}` is missing"
                    ));
                }
                rules
                    .per_user
                    .insert(user.to_owned(), severity(&key, &value)?);
            }
        }
        Ok(rules)
    }

    /// The minimum severity `user` receives.
    fn min_for(&self, user: &str) -> Severity {
        self.per_user.get(user).copied().unwrap_or(self.default_min)
    }

    /// Whether `subscriber` receives `event`.
    pub(crate) fn accepts(&self, event: &Event, subscriber: &Subscriber) -> bool {
        subscriber.event_types.contains(&event.kind)
            && event
                .target_user_ids
                .as_ref()
                .is_none_or(|users| users.contains(&subscriber.user_id))
            && event.severity.rank() >= self.min_for(&subscriber.user_id).rank()
    }
}
