//! Market facts about one symbol, computed from the price cache: the latest
//! quote, the trend (change and moving averages of the mid), the volatility
//! (standard deviation of log returns of the mid) and the average spread.

use gateway_sdk::{PricePoint, Tick, market};

use crate::symbol;

/// Milliseconds in a minute.
const MINUTE_MS: u64 = 60_000;
/// Minutes in a (365-day) year, to annualise per-minute volatility.
const MINUTES_PER_YEAR: f64 = 365.0 * 24.0 * 60.0;
/// A change smaller than this (in percent) is "flat".
const FLAT_PERCENT: f64 = 0.01;
/// A window covering less than this share of the asked minutes is partial.
const FULL_COVERAGE: f64 = 0.8;

/// Which way the mid went over the trend window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Rose by at least the flat threshold.
    Up,
    /// Fell by at least the flat threshold.
    Down,
    /// Moved less than the flat threshold.
    Flat,
}

/// The change of the mid over the trend window.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Trend {
    /// The asked window, in minutes.
    pub(crate) minutes: u32,
    /// Time from the first to the last price of the window, in ms.
    pub(crate) span_ms: u64,
    pub(crate) first_mid: f64,
    pub(crate) last_mid: f64,
    /// `last_mid / first_mid - 1`, in percent.
    pub(crate) change_percent: f64,
    pub(crate) direction: Direction,
    /// Window of the short moving average, in minutes.
    pub(crate) short_minutes: u32,
    /// Simple moving average of the mid over the short window.
    pub(crate) short_sma: f64,
    /// Simple moving average of the mid over the whole window.
    pub(crate) long_sma: f64,
}

impl Trend {
    /// Whether the prices cover most of the asked window.
    pub(crate) fn covers_window(&self) -> bool {
        self.span_ms as f64 >= FULL_COVERAGE * (u64::from(self.minutes) * MINUTE_MS) as f64
    }
}

/// The volatility of the mid over the volatility window.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Volatility {
    /// The asked window, in minutes.
    pub(crate) minutes: u32,
    /// Prices the returns were computed from.
    pub(crate) samples: usize,
    /// Standard deviation of log returns scaled to one minute, in percent.
    pub(crate) per_minute_percent: f64,
    /// The same scaled to a year, in percent.
    pub(crate) annualised_percent: f64,
}

/// The spread over the trend window, in pips.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SpreadStats {
    pub(crate) average: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
}

/// Everything known about one symbol.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Facts {
    pub(crate) quote: Tick,
    pub(crate) trend: Option<Trend>,
    pub(crate) volatility: Option<Volatility>,
    pub(crate) spread: Option<SpreadStats>,
}

/// How far back the analysis looks, in minutes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Windows {
    pub(crate) trend_minutes: u32,
    pub(crate) volatility_minutes: u32,
}

/// The facts about `symbol` at `now`, or none when it has no price.
pub(crate) fn facts(symbol: &str, now: u64, windows: Windows) -> Option<Facts> {
    let quote = market::latest(symbol)?;
    let longest = windows.trend_minutes.max(windows.volatility_minutes);
    let mut history = market::history(symbol, window_start(now, longest));
    // The host answers oldest first; the windows below rely on it.
    history.sort_by_key(|p| p.timestamp);
    let trend_points = since(&history, window_start(now, windows.trend_minutes));
    Some(Facts {
        trend: trend(trend_points, now, windows.trend_minutes),
        volatility: volatility(
            since(&history, window_start(now, windows.volatility_minutes)),
            windows.volatility_minutes,
        ),
        spread: spread_stats(symbol, trend_points),
        quote,
    })
}

/// The first millisecond of a window of `minutes` ending at `now`.
fn window_start(now: u64, minutes: u32) -> u64 {
    now.saturating_sub(u64::from(minutes) * MINUTE_MS)
}

/// The points at or after `start` (history is oldest first).
fn since(points: &[PricePoint], start: u64) -> &[PricePoint] {
    &points[points.partition_point(|p| p.timestamp < start)..]
}

/// The mid of a point.
pub(crate) fn mid(bid: f64, ask: f64) -> f64 {
    (bid + ask) / 2.0
}

fn mean(values: impl ExactSizeIterator<Item = f64>) -> f64 {
    let n = values.len() as f64;
    values.sum::<f64>() / n
}

/// The trend of `points` (the window of `minutes` ending at `now`); needs two prices.
pub(crate) fn trend(points: &[PricePoint], now: u64, minutes: u32) -> Option<Trend> {
    let (first, last) = (points.first()?, points.last()?);
    if points.len() < 2 {
        return None;
    }
    let first_mid = mid(first.bid, first.ask);
    let last_mid = mid(last.bid, last.ask);
    let change_percent = (last_mid / first_mid - 1.0) * 100.0;
    let direction = if change_percent.abs() < FLAT_PERCENT {
        Direction::Flat
    } else if change_percent > 0.0 {
        Direction::Up
    } else {
        Direction::Down
    };
    let short_minutes = (minutes / 3).max(1);
    let short = match since(points, window_start(now, short_minutes)) {
        [] => &points[points.len() - 1..],
        recent => recent,
    };
    Some(Trend {
        minutes,
        span_ms: last.timestamp.saturating_sub(first.timestamp),
        first_mid,
        last_mid,
        change_percent,
        direction,
        short_minutes,
        short_sma: mean(short.iter().map(|p| mid(p.bid, p.ask))),
        long_sma: mean(points.iter().map(|p| mid(p.bid, p.ask))),
    })
}

/// The volatility of `points`: sample standard deviation of the log returns
/// between consecutive mids, scaled by the mean time between prices to one
/// minute and to a year. Needs three prices over a positive time span.
pub(crate) fn volatility(points: &[PricePoint], minutes: u32) -> Option<Volatility> {
    let mids: Vec<(u64, f64)> = points
        .iter()
        .map(|p| (p.timestamp, mid(p.bid, p.ask)))
        .filter(|(_, m)| m.is_finite() && *m > 0.0)
        .collect();
    let (first, last) = (mids.first()?, mids.last()?);
    if mids.len() < 3 || last.0 <= first.0 {
        return None;
    }
    let returns: Vec<f64> = mids.windows(2).map(|w| (w[1].1 / w[0].1).ln()).collect();
    let n = returns.len() as f64;
    let average = returns.iter().sum::<f64>() / n;
    let variance = returns.iter().map(|r| (r - average).powi(2)).sum::<f64>() / (n - 1.0);
    let mean_step_ms = (last.0 - first.0) as f64 / n;
    let per_minute = variance.sqrt() * (MINUTE_MS as f64 / mean_step_ms).sqrt();
    Some(Volatility {
        minutes,
        samples: mids.len(),
        per_minute_percent: per_minute * 100.0,
        annualised_percent: per_minute * MINUTES_PER_YEAR.sqrt() * 100.0,
    })
}

/// Average, smallest and largest spread of `points`, in pips.
fn spread_stats(symbol: &str, points: &[PricePoint]) -> Option<SpreadStats> {
    if points.is_empty() {
        return None;
    }
    let pips = || {
        points
            .iter()
            .map(|p| symbol::spread_pips(symbol, p.bid, p.ask))
    };
    Some(SpreadStats {
        average: mean(pips()),
        min: pips().fold(f64::INFINITY, f64::min),
        max: pips().fold(f64::NEG_INFINITY, f64::max),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points(mids: &[f64], step_ms: u64) -> Vec<PricePoint> {
        mids.iter()
            .enumerate()
            .map(|(i, m)| PricePoint {
                timestamp: 1_000 + i as u64 * step_ms,
                bid: m - 0.00005,
                ask: m + 0.00005,
            })
            .collect()
    }

    #[test]
    fn rising_falling_and_flat_trends() {
        let rising = points(&[1.0, 1.001, 1.002, 1.003], MINUTE_MS);
        let t = trend(&rising, 1_000 + 3 * MINUTE_MS, 15).unwrap();
        assert_eq!(t.direction, Direction::Up);
        assert!((t.change_percent - 0.3).abs() < 1e-9, "{t:?}");
        assert!((t.long_sma - 1.0015).abs() < 1e-12);
        // Short window = 5 minutes: all four prices here.
        assert!((t.short_sma - 1.0015).abs() < 1e-12);
        assert_eq!(t.span_ms, 3 * MINUTE_MS);
        assert!(!t.covers_window());

        let falling = points(&[1.003, 1.002, 1.001, 1.0], MINUTE_MS);
        assert_eq!(trend(&falling, 0, 15).unwrap().direction, Direction::Down);
        let flat = points(&[1.0, 1.00005, 1.0], MINUTE_MS);
        assert_eq!(trend(&flat, 0, 15).unwrap().direction, Direction::Flat);
        assert_eq!(trend(&points(&[1.0], MINUTE_MS), 0, 15), None);
        assert_eq!(trend(&[], 0, 15), None);
    }

    #[test]
    fn short_average_uses_the_recent_prices_only() {
        // 16 prices, one a minute: the short (5-minute) window holds the last 6.
        let mids: Vec<f64> = (0..16).map(|i| 1.0 + f64::from(i) * 0.001).collect();
        let pts = points(&mids, MINUTE_MS);
        let now = pts[15].timestamp;
        let t = trend(&pts, now, 15).unwrap();
        assert_eq!(t.short_minutes, 5);
        assert!((t.short_sma - 1.0125).abs() < 1e-9, "{}", t.short_sma);
        assert!((t.long_sma - 1.0075).abs() < 1e-9, "{}", t.long_sma);
        assert!(t.covers_window());
    }

    #[test]
    fn volatility_of_alternating_prices() {
        // Returns +a, -a, +a, -a with a = ln(1.01): sample stdev a·sqrt(4/3),
        // one price a minute, so that is already per minute.
        let pts = points(&[1.0, 1.01, 1.0, 1.01, 1.0], MINUTE_MS);
        let v = volatility(&pts, 60).unwrap();
        let expected = 1.01f64.ln() * (4.0f64 / 3.0).sqrt() * 100.0;
        assert!((v.per_minute_percent - expected).abs() < 1e-9, "{v:?}");
        assert!((v.annualised_percent - expected * 525_600f64.sqrt()).abs() < 1e-6);
        assert_eq!(v.samples, 5);
        // Prices every 15 s: four steps a minute, twice the per-minute stdev.
        let fast = volatility(&points(&[1.0, 1.01, 1.0, 1.01, 1.0], 15_000), 60).unwrap();
        assert!((fast.per_minute_percent - 2.0 * expected).abs() < 1e-9);
    }

    #[test]
    fn volatility_needs_three_prices_over_time() {
        assert_eq!(volatility(&points(&[1.0, 1.1], MINUTE_MS), 60), None);
        assert_eq!(volatility(&points(&[1.0, 1.1, 1.2], 0), 60), None);
        let constant = volatility(&points(&[1.0, 1.0, 1.0], MINUTE_MS), 60).unwrap();
        assert_eq!(constant.per_minute_percent, 0.0);
    }

    #[test]
    fn spread_statistics_in_pips() {
        let pts = [
            PricePoint {
                timestamp: 1,
                bid: 151.200,
                ask: 151.210,
            },
            PricePoint {
                timestamp: 2,
                bid: 151.200,
                ask: 151.230,
            },
        ];
        let s = spread_stats("USDJPY", &pts).unwrap();
        assert!(
            (s.average - 2.0).abs() < 1e-9
                && (s.min - 1.0).abs() < 1e-9
                && (s.max - 3.0).abs() < 1e-9
        );
        assert_eq!(spread_stats("USDJPY", &[]), None);
    }
}
