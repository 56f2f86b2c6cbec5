//! The ids of accepted events, kept for [`REMEMBER`]: an event whose id was
//! accepted before (an event service answering a poll again after a crash,
//! a caller posting twice) is not delivered again.

use std::sync::Arc;
use std::time::Duration;

use redb::{ReadableTable, TableDefinition};

use super::{Store, StoreError};

/// How long an accepted event id is remembered.
pub(crate) const REMEMBER: Duration = Duration::from_secs(3600);

/// id → ms accepted.
const IDS: TableDefinition<&str, u64> = TableDefinition::new("event_ids");
/// (ms accepted, id), oldest first.
const BY_TIME: TableDefinition<(u64, &str), ()> = TableDefinition::new("event_ids_by_time");

/// Accepted event ids.
pub(crate) struct EventIds {
    store: Arc<Store>,
}

impl EventIds {
    /// The ids kept in `store`.
    pub(crate) fn new(store: Arc<Store>) -> Self {
        Self { store }
    }

    /// Records `ids` as accepted at `now_ms` (forgetting those older than
    /// [`REMEMBER`]); for each, whether it is new.
    pub(crate) fn accept(&self, ids: &[&str], now_ms: u64) -> Result<Vec<bool>, StoreError> {
        let tx = self.store.db()?.begin_write()?;
        let mut fresh = Vec::with_capacity(ids.len());
        {
            let mut known = tx.open_table(IDS)?;
            let mut by_time = tx.open_table(BY_TIME)?;
            let horizon = now_ms.saturating_sub(REMEMBER.as_millis() as u64);
            loop {
                let Some(first) = by_time.first()? else { break };
                let (at, id) = first.0.value();
                if at >= horizon {
                    break;
                }
                let id = id.to_owned();
                drop(first);
                by_time.remove((at, id.as_str()))?;
                known.remove(id.as_str())?;
            }
            for id in ids {
                let new = known.get(*id)?.is_none();
                if new {
                    known.insert(*id, now_ms)?;
                    by_time.insert((now_ms, *id), ())?;
                }
                fresh.push(new);
            }
        }
        tx.commit()?;
        Ok(fresh)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_new_once_until_it_is_forgotten() {
        let ids = EventIds::new(Store::in_memory());
        assert_eq!(
            ids.accept(&["a", "b", "a"], 1_000).unwrap(),
            [true, true, false]
        );
        assert_eq!(ids.accept(&["b", "c"], 2_000).unwrap(), [false, true]);
        let later = 1_000 + REMEMBER.as_millis() as u64 + 1;
        assert_eq!(ids.accept(&["a", "c"], later).unwrap(), [true, false]);
    }
}
