//! Which price source owns each symbol. Several sources may claim one
//! symbol (their `describe().symbols`, and any symbol they send a tick
//! for); only the owner's ticks are delivered, so subscribers never see two
//! feeds interleaved. The owner is the claimant ranking first — highest
//! manifest `priority`, then the one loaded first, then by name — among
//! those still producing; the others stand by.
//!
//! A source stops producing when it is unloaded, when its circuit opens
//! (it is *silenced* until its next tick), or when it sends no tick for a
//! configured number of its own intervals (it is *stale*). The next
//! claimant then takes over; once the first one produces again it gets
//! the symbol back. When no claimant is producing, the last owner keeps
//! the symbol: there is no one better to switch to.
//!
//! The table is plain data driven by the caller's clock, so every rule is
//! unit-tested here; delivery holds one, feeds it from the stream of ticks
//! (in cluster mode, the stream relayed to every node) and logs and counts
//! the switches it reports.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::{Duration, Instant};

use serde::Serialize;

/// What a price source claims and how it ranks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// Manifest `priority`: the highest owns a shared symbol.
    pub priority: i64,
    /// Load order, the tie-breaker between equal priorities (lower first).
    pub order: u64,
    /// The symbols it said it serves.
    pub symbols: Vec<String>,
    /// How often it is polled.
    pub interval: Duration,
}

/// Why a symbol changed owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The owner was unloaded.
    Unloaded,
    /// The owner was replaced by a version that no longer claims the symbol.
    Unclaimed,
    /// The owner's circuit opened.
    CircuitOpen,
    /// The owner sent no tick for too many of its intervals.
    Stale,
    /// A source ranking higher produces (again): it takes the symbol back,
    /// or was just loaded.
    Outranked,
}

impl Reason {
    /// The name used in logs and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Unloaded => "unloaded",
            Reason::Unclaimed => "unclaimed",
            Reason::CircuitOpen => "circuit-open",
            Reason::Stale => "stale",
            Reason::Outranked => "outranked",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A symbol passing from one source to another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Switch {
    /// The symbol.
    pub symbol: String,
    /// Its owner until now.
    pub from: String,
    /// Its owner from now on.
    pub to: String,
    /// Why.
    pub reason: Reason,
}

/// What one source holds, for the admin API.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Holdings {
    /// Symbols whose ticks are delivered from it.
    pub owns: Vec<String>,
    /// Symbols it claims that another source owns, and that owner.
    pub stands_by: BTreeMap<String, String>,
}

struct Source {
    claim: Claim,
    symbols: BTreeSet<String>,
    last_heard: Instant,
    silenced: bool,
    live: bool,
}

impl Source {
    fn rank(&self, name: &str) -> (Reverse<i64>, u64, String) {
        (
            Reverse(self.claim.priority),
            self.claim.order,
            name.to_owned(),
        )
    }
}

/// The owner of every claimed symbol.
pub struct Owners {
    stale_intervals: u32,
    sources: BTreeMap<String, Source>,
    owners: BTreeMap<String, String>,
}

impl Owners {
    /// A table where a source is stale after `stale_intervals` of its
    /// intervals without a tick.
    pub fn new(stale_intervals: u32) -> Self {
        Self {
            stale_intervals: stale_intervals.max(1),
            sources: BTreeMap::new(),
            owners: BTreeMap::new(),
        }
    }

    /// Registers or updates what `source` claims (loaded or replaced). A
    /// replaced source keeps its load order and claims what the new version
    /// describes; a new one counts as heard now, so it has its full
    /// allowance of intervals to send a first tick.
    pub fn claim(&mut self, source: &str, claim: Claim, now: Instant) -> Vec<Switch> {
        let symbols: BTreeSet<String> = claim.symbols.iter().cloned().collect();
        match self.sources.get_mut(source) {
            Some(s) => {
                s.claim = Claim {
                    order: s.claim.order,
                    ..claim
                };
                s.symbols = symbols;
            }
            None => {
                self.sources.insert(
                    source.to_owned(),
                    Source {
                        claim,
                        symbols,
                        last_heard: now,
                        silenced: false,
                        live: true,
                    },
                );
            }
        }
        self.refresh(now, true)
    }

    /// Forgets `source` (unloaded): its symbols pass to the next claimant.
    pub fn release(&mut self, source: &str, now: Instant) -> Vec<Switch> {
        if self.sources.remove(source).is_none() {
            return Vec::new();
        }
        self.refresh(now, true)
    }

    /// Marks `source` as not producing until its next tick (its circuit is open).
    pub fn silence(&mut self, source: &str, now: Instant) -> Vec<Switch> {
        match self.sources.get_mut(source) {
            Some(s) if !s.silenced => s.silenced = true,
            _ => return Vec::new(),
        }
        self.refresh(now, true)
    }

    /// Records that `source` sent ticks for `symbols` now; a symbol it had
    /// not claimed becomes part of its claim. An unknown source (not
    /// loaded on this node) is not recorded.
    pub fn heard<'a>(
        &mut self,
        source: &str,
        symbols: impl IntoIterator<Item = &'a str>,
        now: Instant,
    ) -> Vec<Switch> {
        let Some(s) = self.sources.get_mut(source) else {
            return Vec::new();
        };
        s.last_heard = now;
        s.silenced = false;
        let mut claims_grew = false;
        for symbol in symbols {
            if !s.symbols.contains(symbol) {
                s.symbols.insert(symbol.to_owned());
                claims_grew = true;
            }
        }
        self.refresh(now, claims_grew)
    }

    /// Re-evaluates which sources are stale at `now`.
    pub fn check(&mut self, now: Instant) -> Vec<Switch> {
        self.refresh(now, false)
    }

    /// Whether a tick of `symbol` from `source` is delivered: `source` owns
    /// it, or nobody does.
    pub fn delivers(&self, source: &str, symbol: &str) -> bool {
        self.owners.get(symbol).is_none_or(|owner| owner == source)
    }

    /// The owner of `symbol`.
    pub fn owner(&self, symbol: &str) -> Option<&str> {
        self.owners.get(symbol).map(String::as_str)
    }

    /// What `source` owns and what it stands by for.
    pub fn holdings(&self, source: &str) -> Option<Holdings> {
        let s = self.sources.get(source)?;
        let mut held = Holdings::default();
        for symbol in &s.symbols {
            match self.owners.get(symbol) {
                Some(owner) if owner == source => held.owns.push(symbol.clone()),
                Some(owner) => {
                    held.stands_by.insert(symbol.clone(), owner.clone());
                }
                None => {}
            }
        }
        Some(held)
    }

    /// The sources claiming `symbol`, best ranked first.
    pub fn claimants(&self, symbol: &str) -> Vec<&str> {
        let mut all: Vec<(&String, &Source)> = self
            .sources
            .iter()
            .filter(|(_, s)| s.symbols.contains(symbol))
            .collect();
        all.sort_by_key(|(name, s)| s.rank(name));
        all.into_iter().map(|(name, _)| name.as_str()).collect()
    }

    fn is_live(&self, s: &Source, now: Instant) -> bool {
        !s.silenced
            && now.saturating_duration_since(s.last_heard)
                <= s.claim.interval.saturating_mul(self.stale_intervals)
    }

    /// Updates liveness and, when it or the claims changed, the owners;
    /// returns the switches.
    fn refresh(&mut self, now: Instant, claims_changed: bool) -> Vec<Switch> {
        let mut changed = claims_changed;
        let live: Vec<bool> = self
            .sources
            .values()
            .map(|s| self.is_live(s, now))
            .collect();
        for (s, live) in self.sources.values_mut().zip(live) {
            changed |= s.live != live;
            s.live = live;
        }
        if !changed {
            return Vec::new();
        }
        let mut next = BTreeMap::new();
        let symbols: BTreeSet<&String> = self.sources.values().flat_map(|s| &s.symbols).collect();
        for symbol in symbols {
            let ranked = self.claimants(symbol);
            let current = self.owners.get(symbol).map(String::as_str);
            let owner = ranked
                .iter()
                .find(|name| self.sources[**name].live)
                .or_else(|| ranked.iter().find(|name| Some(**name) == current))
                .or(ranked.first());
            if let Some(owner) = owner {
                next.insert(symbol.clone(), (*owner).to_owned());
            }
        }
        let mut switches = Vec::new();
        for (symbol, to) in &next {
            let Some(from) = self.owners.get(symbol) else {
                continue;
            };
            if from == to {
                continue;
            }
            let reason = match self.sources.get(from) {
                None => Reason::Unloaded,
                Some(s) if !s.symbols.contains(symbol) => Reason::Unclaimed,
                Some(s) if s.silenced => Reason::CircuitOpen,
                Some(s) if !s.live => Reason::Stale,
                Some(_) => Reason::Outranked,
            };
            switches.push(Switch {
                symbol: symbol.clone(),
                from: from.clone(),
                to: to.clone(),
                reason,
            });
        }
        self.owners = next;
        switches
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TICK: Duration = Duration::from_millis(100);

    fn claim(priority: i64, order: u64, symbols: &[&str]) -> Claim {
        Claim {
            priority,
            order,
            symbols: symbols.iter().map(|s| (*s).to_owned()).collect(),
            interval: TICK,
        }
    }

    fn switch(symbol: &str, from: &str, to: &str, reason: Reason) -> Switch {
        Switch {
            symbol: symbol.into(),
            from: from.into(),
            to: to.into(),
            reason,
        }
    }

    /// `primary` (priority 10) and `backup` (priority 0) both claim EURUSD;
    /// stale after 3 intervals.
    fn pair(t0: Instant) -> Owners {
        let mut o = Owners::new(3);
        o.claim("backup", claim(0, 0, &["EURUSD", "USDJPY"]), t0);
        o.claim("primary", claim(10, 1, &["EURUSD"]), t0);
        o
    }

    #[test]
    fn the_highest_priority_owns_then_the_first_loaded() {
        let t0 = Instant::now();
        let mut o = Owners::new(3);
        o.claim("b-late", claim(5, 2, &["EURUSD"]), t0);
        o.claim("a-early", claim(5, 1, &["EURUSD"]), t0);
        assert_eq!(o.owner("EURUSD"), Some("a-early"));
        assert!(o.delivers("a-early", "EURUSD"));
        assert!(!o.delivers("b-late", "EURUSD"));
        let switches = o.claim("top", claim(6, 3, &["EURUSD"]), t0);
        assert_eq!(
            switches,
            [switch("EURUSD", "a-early", "top", Reason::Outranked)]
        );
        assert_eq!(o.claimants("EURUSD"), ["top", "a-early", "b-late"]);
        assert!(
            o.delivers("anyone", "GBPUSD"),
            "an unclaimed symbol is open"
        );
    }

    #[test]
    fn a_replaced_source_keeps_its_load_order() {
        let t0 = Instant::now();
        let mut o = Owners::new(3);
        o.claim("a", claim(0, 1, &["EURUSD"]), t0);
        o.claim("b", claim(0, 2, &["EURUSD"]), t0);
        assert!(o.claim("a", claim(0, 99, &["EURUSD"]), t0).is_empty());
        assert_eq!(o.owner("EURUSD"), Some("a"));
        let dropped = o.claim("a", claim(0, 99, &["GBPUSD"]), t0);
        assert_eq!(dropped, [switch("EURUSD", "a", "b", Reason::Unclaimed)]);
        assert_eq!(
            o.owner("GBPUSD"),
            Some("a"),
            "it claims what it now describes"
        );
    }

    #[test]
    fn holdings_show_what_is_owned_and_who_owns_the_rest() {
        let o = pair(Instant::now());
        let backup = o.holdings("backup").unwrap();
        assert_eq!(backup.owns, ["USDJPY"]);
        assert_eq!(backup.stands_by["EURUSD"], "primary");
        assert_eq!(o.holdings("primary").unwrap().owns, ["EURUSD"]);
        assert!(o.holdings("nobody").is_none());
    }

    #[test]
    fn unloading_the_owner_hands_over_and_reloading_hands_back() {
        let t0 = Instant::now();
        let mut o = pair(t0);
        assert_eq!(
            o.release("primary", t0),
            [switch("EURUSD", "primary", "backup", Reason::Unloaded)]
        );
        assert!(o.delivers("backup", "EURUSD"));
        assert_eq!(
            o.claim("primary", claim(10, 2, &["EURUSD"]), t0),
            [switch("EURUSD", "backup", "primary", Reason::Outranked)]
        );
        assert!(o.release("unknown", t0).is_empty());
    }

    #[test]
    fn an_open_circuit_hands_over_until_the_next_tick() {
        let t0 = Instant::now();
        let mut o = pair(t0);
        assert_eq!(
            o.silence("primary", t0),
            [switch("EURUSD", "primary", "backup", Reason::CircuitOpen)]
        );
        assert!(o.silence("primary", t0).is_empty(), "counted once");
        let t1 = t0 + TICK;
        assert!(o.heard("backup", ["EURUSD"], t1).is_empty());
        assert_eq!(
            o.heard("primary", ["EURUSD"], t1),
            [switch("EURUSD", "backup", "primary", Reason::Outranked)]
        );
    }

    #[test]
    fn a_silent_owner_is_stale_after_its_intervals_and_recovers_with_a_tick() {
        let t0 = Instant::now();
        let mut o = pair(t0);
        let mut t = t0;
        for _ in 0..3 {
            t += TICK;
            assert!(o.heard("backup", ["EURUSD"], t).is_empty());
        }
        assert_eq!(
            o.owner("EURUSD"),
            Some("primary"),
            "3 intervals are allowed"
        );
        t += TICK;
        assert_eq!(
            o.heard("backup", ["EURUSD"], t),
            [switch("EURUSD", "primary", "backup", Reason::Stale)]
        );
        assert!(!o.delivers("primary", "EURUSD"));
        t += TICK;
        assert_eq!(
            o.heard("primary", ["EURUSD"], t),
            [switch("EURUSD", "backup", "primary", Reason::Outranked)]
        );
        assert!(o.delivers("primary", "EURUSD"));
    }

    #[test]
    fn staleness_is_noticed_without_a_tick() {
        let t0 = Instant::now();
        let mut o = pair(t0);
        o.heard("backup", ["EURUSD"], t0 + TICK * 3);
        assert_eq!(
            o.check(t0 + TICK * 4),
            [switch("EURUSD", "primary", "backup", Reason::Stale)]
        );
    }

    #[test]
    fn with_nobody_producing_the_last_owner_keeps_the_symbol() {
        let t0 = Instant::now();
        let mut o = pair(t0);
        assert!(o.check(t0 + TICK * 10).is_empty());
        assert_eq!(o.owner("EURUSD"), Some("primary"));
        let mut alone = Owners::new(3);
        alone.claim("only", claim(0, 0, &["EURUSD"]), t0);
        alone.silence("only", t0);
        assert!(alone.delivers("only", "EURUSD"));
    }

    #[test]
    fn a_tick_for_an_undeclared_symbol_extends_the_claim() {
        let t0 = Instant::now();
        let mut o = pair(t0);
        o.heard("primary", ["GBPUSD"], t0);
        assert_eq!(o.owner("GBPUSD"), Some("primary"));
        o.heard("stranger", ["AUDUSD"], t0);
        assert_eq!(o.owner("AUDUSD"), None, "unknown sources are not recorded");
    }
}
