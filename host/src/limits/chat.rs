//! Chat questions in flight per user. The chat responder has few instances
//! and each answer may wait seconds on an LLM, so one user asking many
//! questions at once would keep everyone else waiting: a user may have at
//! most `CHAT_MAX_PENDING_PER_USER` questions unanswered (on this node);
//! more are refused with `CHAT_BUSY` until one is answered.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

/// Unanswered chat questions per user.
pub(crate) struct ChatSlots {
    per_user: usize,
    pending: Arc<Mutex<HashMap<String, usize>>>,
}

/// One question in flight; dropping it frees the user's slot.
pub(crate) struct ChatPermit {
    user: String,
    pending: Arc<Mutex<HashMap<String, usize>>>,
}

impl ChatSlots {
    /// At most `per_user` (at least 1) questions in flight per user.
    pub(crate) fn new(per_user: usize) -> Self {
        Self {
            per_user: per_user.max(1),
            pending: Arc::default(),
        }
    }

    /// The most questions a user may have in flight.
    pub(crate) fn per_user(&self) -> usize {
        self.per_user
    }

    /// A slot for one more question of `user`, unless they have all of theirs.
    pub(crate) fn try_acquire(&self, user: &str) -> Option<ChatPermit> {
        let mut pending = self.pending.lock();
        let n = pending.entry(user.to_owned()).or_insert(0);
        if *n >= self.per_user {
            return None;
        }
        *n += 1;
        Some(ChatPermit {
            user: user.to_owned(),
            pending: self.pending.clone(),
        })
    }
}

impl Drop for ChatPermit {
    fn drop(&mut self) {
        let mut pending = self.pending.lock();
        if let Some(n) = pending.get_mut(&self.user) {
            *n -= 1;
            if *n == 0 {
                pending.remove(&self.user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_gets_their_slots_and_no_more_and_others_are_unaffected() {
        let slots = ChatSlots::new(2);
        let a1 = slots.try_acquire("alice").unwrap();
        let _a2 = slots.try_acquire("alice").unwrap();
        assert!(slots.try_acquire("alice").is_none());
        let _b = slots.try_acquire("bob").unwrap();
        drop(a1);
        assert!(slots.try_acquire("alice").is_some());
    }

    #[test]
    fn answered_users_leave_no_entry_behind() {
        let slots = ChatSlots::new(1);
        drop(slots.try_acquire("alice"));
        assert!(slots.pending.lock().is_empty());
    }
}
