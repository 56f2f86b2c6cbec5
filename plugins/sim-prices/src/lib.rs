//! The simulated price source: a geometric random walk per FX pair with
//! per-pair volatility, realistic spreads in pips and the pair's decimals.
//!
//! Config (all optional):
//! - `symbols`: comma-separated pairs (default: majors and a few crosses);
//!   pairs outside the built-in table get neutral defaults.
//! - `interval_ms`: tick interval, 10 ms and up (default 1000).
//! - `seed`: fixes the random walk, so two runs emit the same prices.
//! - `volatility_scale`: multiplies every pair's volatility (default 1).

mod pairs;
mod rng;

use gateway_sdk::{PluginInfo, PriceSource, SourceInfo, Tick, config};

use pairs::Pair;
use rng::Rng;

/// Seconds in a year, the unit of the annualised volatilities.
const SECONDS_PER_YEAR: f64 = 365.0 * 24.0 * 3600.0;
const DEFAULT_INTERVAL_MS: u32 = 1000;
const MIN_INTERVAL_MS: u32 = 10;

/// One walking pair.
struct Walk {
    pair: Pair,
    mid: f64,
}

/// The plugin state: the walks and the random source.
pub struct SimPrices {
    walks: Vec<Walk>,
    rng: Rng,
    step_sigma: f64,
    last_timestamp: u64,
}

fn symbols() -> Vec<String> {
    config::list("symbols")
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| {
            pairs::DEFAULT_SYMBOLS
                .iter()
                .map(|s| (*s).to_owned())
                .collect()
        })
}

fn interval_ms() -> Result<u32, String> {
    config::get_at_least("interval_ms", DEFAULT_INTERVAL_MS, MIN_INTERVAL_MS)
}

impl SimPrices {
    /// Mid prices after one step of the walk, rounded to each pair's decimals.
    fn step(&mut self, now: u64) -> Vec<Tick> {
        // Strictly increasing timestamps, even when the clock stands still.
        let timestamp = now.max(self.last_timestamp + 1);
        self.last_timestamp = timestamp;
        let Self {
            walks,
            rng,
            step_sigma,
            ..
        } = self;
        walks
            .iter_mut()
            .map(|w| {
                let sigma = w.pair.volatility * *step_sigma;
                let z = rng.normal();
                w.mid *= (-0.5 * sigma * sigma + sigma * z).exp();
                let spread_pips = w.pair.spread_pips * (1.0 + 0.25 * rng.normal().abs());
                w.pair.quote(&w.mid, spread_pips, timestamp)
            })
            .collect()
    }
}

impl PriceSource for SimPrices {
    fn describe() -> SourceInfo {
        SourceInfo {
            plugin: PluginInfo::new(
                "sim-prices",
                env!("CARGO_PKG_VERSION"),
                "Simulated FX prices: geometric random walk with realistic spreads",
            ),
            symbols: symbols(),
            interval_ms: interval_ms().unwrap_or(DEFAULT_INTERVAL_MS),
        }
    }

    fn init() -> Result<Self, String> {
        let interval = interval_ms()?;
        let scale: f64 = config::get_or("volatility_scale", 1.0)?;
        if !(scale.is_finite() && scale >= 0.0) {
            return Err(format!(
                "volatility_scale must be a finite number >= 0, got {scale}"
            ));
        }
        let seed = match config::get("seed") {
            Some(s) => s
                .trim()
                .parse::<u64>()
                .map_err(|e| format!("seed must be an unsigned integer: {e}"))?,
            None => gateway_sdk::clock::now_ms(),
        };
        let walks = symbols()
            .into_iter()
            .map(|s| {
                Pair::lookup(&s).map(|pair| Walk {
                    mid: pair.base,
                    pair,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            walks,
            rng: Rng::new(seed),
            step_sigma: scale * (f64::from(interval) / 1000.0 / SECONDS_PER_YEAR).sqrt(),
            last_timestamp: 0,
        })
    }

    fn poll(&mut self) -> Result<Vec<Tick>, String> {
        Ok(self.step(gateway_sdk::clock::now_ms()))
    }
}

gateway_sdk::export_price_source!(SimPrices);

#[cfg(test)]
mod tests {
    use super::*;
    use gateway_sdk::testing::FakeHost;

    fn run(seed: &str, polls: usize) -> Vec<Tick> {
        let host = FakeHost::new()
            .config("seed", seed)
            .time_ms(1_000)
            .install();
        let mut sim = SimPrices::init().unwrap();
        let mut out = Vec::new();
        for _ in 0..polls {
            out.extend(sim.poll().unwrap());
            host.advance_ms(1000);
        }
        out
    }

    #[test]
    fn same_seed_same_prices_and_other_seed_differs() {
        assert_eq!(run("7", 20), run("7", 20));
        assert_ne!(run("7", 20), run("8", 20));
    }

    #[test]
    fn bid_below_ask_with_the_pairs_decimals() {
        for t in run("1", 200) {
            assert!(t.bid < t.ask, "{t:?}");
            let decimals = if t.symbol.ends_with("JPY") { 3 } else { 5 };
            let scale = 10f64.powi(decimals);
            assert!(
                ((t.bid * scale).round() - t.bid * scale).abs() < 1e-6,
                "{t:?}"
            );
            assert!(
                ((t.ask * scale).round() - t.ask * scale).abs() < 1e-6,
                "{t:?}"
            );
            let pip = if decimals == 3 { 0.01 } else { 0.0001 };
            assert!((t.ask - t.bid) / pip < 10.0, "spread too wide: {t:?}");
        }
    }

    #[test]
    fn serves_configured_symbols_at_configured_interval() {
        let _host = FakeHost::new()
            .config("symbols", "EURUSD, USDJPY,XAUUSD")
            .config("interval_ms", "10")
            .install();
        let info = SimPrices::describe();
        assert_eq!(info.symbols, ["EURUSD", "USDJPY", "XAUUSD"]);
        assert_eq!(info.interval_ms, 10);
        let ticks = SimPrices::init().unwrap().poll().unwrap();
        assert_eq!(ticks.len(), 3);
    }

    #[test]
    fn rejects_bad_config() {
        let host = FakeHost::new().config("interval_ms", "5").install();
        assert!(SimPrices::init().err().unwrap().contains("at least 10"));
        host.set_config("interval_ms", "100");
        host.set_config("symbols", "eur/usd");
        assert!(SimPrices::init().err().unwrap().contains("eur/usd"));
    }

    #[test]
    fn walk_moves_but_stays_near_its_start() {
        let ticks = run("3", 3600);
        let eur: Vec<_> = ticks.iter().filter(|t| t.symbol == "EURUSD").collect();
        let first = eur[0].bid;
        let last = eur[eur.len() - 1].bid;
        assert_ne!(first, last);
        assert!(
            (last / first - 1.0).abs() < 0.02,
            "an hour moved {first} -> {last}"
        );
        assert!(eur.windows(2).all(|w| w[0].timestamp < w[1].timestamp));
    }
}
