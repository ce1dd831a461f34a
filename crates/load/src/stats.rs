//! The statistics every scenario reports: RFC 3550 interarrival jitter, loss from extended
//! sequence numbers (wraparound-safe), and a mergeable log-linear histogram for latencies.

use serde::Serialize;

/// RFC 3550 §6.4.1 / §A.8 interarrival jitter, in units of the stream's RTP clock.
///
/// `D(i,j) = (Rj - Ri) - (Sj - Si)`, `J += (|D| - J) / 16`: `S` is the RTP timestamp, `R` the
/// arrival time converted to the same clock.
#[derive(Debug, Clone, Default)]
pub(crate) struct Jitter {
    last: Option<(f64, u32)>,
    jitter: f64,
}

impl Jitter {
    /// One packet: its RTP timestamp and its arrival time in clock units (any fixed origin).
    pub(crate) fn update(&mut self, rtp_ts: u32, arrival: f64) {
        if let Some((last_arrival, last_ts)) = self.last {
            // The timestamp difference taken modulo 2^32 (signed), so a wrap is one small step.
            let sent = f64::from(rtp_ts.wrapping_sub(last_ts) as i32);
            let d = (arrival - last_arrival) - sent;
            self.jitter += (d.abs() - self.jitter) / 16.0;
        }
        self.last = Some((arrival, rtp_ts));
    }

    /// The current estimate, in clock units.
    pub(crate) fn get(&self) -> f64 {
        self.jitter
    }
}

/// Loss of one stream from its 16-bit sequence numbers, extended across wraparound
/// (RFC 3550 §A.1): expected = highest − first + 1, lost = expected − received.
#[derive(Debug, Clone, Default)]
pub(crate) struct Loss {
    first: Option<u64>,
    highest: u64,
    received: u64,
}

impl Loss {
    pub(crate) fn update(&mut self, seq: u16) {
        self.received += 1;
        let Some(first) = self.first else {
            // Start one cycle up so a late packet from before the first stays representable.
            let ext = (1 << 16) + u64::from(seq);
            self.first = Some(ext);
            self.highest = ext;
            return;
        };
        let ext = extend(self.highest, seq);
        if ext > self.highest {
            self.highest = ext;
        }
        if ext < first {
            self.first = Some(ext);
        }
    }

    pub(crate) fn expected(&self) -> u64 {
        self.first.map_or(0, |f| self.highest - f + 1)
    }

    #[cfg(test)]
    pub(crate) fn received(&self) -> u64 {
        self.received
    }

    /// Packets never seen; duplicates can make `received` exceed `expected`, so this saturates.
    pub(crate) fn lost(&self) -> u64 {
        self.expected().saturating_sub(self.received)
    }
}

/// The extended sequence number closest to `reference` whose low 16 bits are `seq`.
pub(crate) fn extend(reference: u64, seq: u16) -> u64 {
    const CYCLE: i64 = 1 << 16;
    let delta = i64::from(seq.wrapping_sub(reference as u16) as i16);
    let ext = reference as i64 + delta;
    // Never below zero: the first number is already placed one cycle up.
    if ext < 0 { ext + CYCLE } else { ext }.max(0) as u64
}

/// Histogram of non-negative integer values (µs, ms) with exact buckets below 2048 and 64
/// buckets per power of two above: ≤ 1.6 % relative error, fixed memory, mergeable.
#[derive(Debug, Clone)]
pub(crate) struct Histogram {
    counts: Vec<u64>,
    total: u64,
    sum: f64,
    max: u64,
}

const EXACT: u64 = 2048;
const SUB_BITS: u32 = 6;

impl Default for Histogram {
    fn default() -> Self {
        Self {
            counts: vec![0; Self::index(u64::MAX) + 1],
            total: 0,
            sum: 0.0,
            max: 0,
        }
    }
}

impl Histogram {
    fn index(v: u64) -> usize {
        if v < EXACT {
            return v as usize;
        }
        let exp = 63 - v.leading_zeros(); // ≥ 11
        let sub = (v >> (exp - SUB_BITS)) & ((1 << SUB_BITS) - 1);
        (EXACT + u64::from(exp - 11) * (1 << SUB_BITS) + sub) as usize
    }

    /// The lowest value of a bucket.
    fn value_of(i: usize) -> u64 {
        let i = i as u64;
        if i < EXACT {
            return i;
        }
        let exp = (i - EXACT) / (1 << SUB_BITS) + 11;
        let sub = (i - EXACT) % (1 << SUB_BITS);
        (1 << exp) | (sub << (exp - u64::from(SUB_BITS)))
    }

    pub(crate) fn record(&mut self, v: u64) {
        self.counts[Self::index(v)] += 1;
        self.total += 1;
        self.sum += v as f64;
        self.max = self.max.max(v);
    }

    pub(crate) fn merge(&mut self, other: &Self) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
        self.sum += other.sum;
        self.max = self.max.max(other.max);
    }

    #[cfg(test)]
    pub(crate) fn count(&self) -> u64 {
        self.total
    }

    /// The value at quantile `q` (0–1): the lowest value of the bucket holding the
    /// ⌈q·n⌉-th sample (nearest-rank); `None` when empty.
    pub(crate) fn quantile(&self, q: f64) -> Option<u64> {
        if self.total == 0 {
            return None;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(Self::value_of(i).min(self.max));
            }
        }
        Some(self.max)
    }

    pub(crate) fn summary(&self) -> Option<Percentiles> {
        Some(Percentiles {
            count: self.total,
            mean: self.sum / self.total.max(1) as f64,
            p50: self.quantile(0.50)?,
            p90: self.quantile(0.90)?,
            p99: self.quantile(0.99)?,
            max: self.max,
        })
    }
}

/// What a histogram reports.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Percentiles {
    pub(crate) count: u64,
    pub(crate) mean: f64,
    pub(crate) p50: u64,
    pub(crate) p90: u64,
    pub(crate) p99: u64,
    pub(crate) max: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_is_zero_for_a_steady_stream_and_follows_rfc3550() {
        let mut j = Jitter::default();
        for i in 0..100u32 {
            j.update(i * 160, f64::from(i * 160));
        }
        assert_eq!(j.get(), 0.0);
        // One packet 80 units late: |D| = 80 → J = 80/16 = 5; the next is on time again but
        // 80 units closer to its predecessor than sent: |D| = 80 → J = 5 + (80 − 5)/16.
        j.update(100 * 160, f64::from(100 * 160 + 80));
        assert!((j.get() - 5.0).abs() < 1e-9);
        j.update(101 * 160, f64::from(101 * 160));
        assert!((j.get() - (5.0 + 75.0 / 16.0)).abs() < 1e-9);
    }

    #[test]
    fn jitter_handles_timestamp_wraparound() {
        let mut j = Jitter::default();
        let start = u32::MAX - 320;
        for i in 0..10u32 {
            j.update(start.wrapping_add(i * 160), f64::from(i * 160));
        }
        assert_eq!(j.get(), 0.0);
    }

    #[test]
    fn loss_counts_across_sequence_wraparound() {
        let mut l = Loss::default();
        for s in 65530..=65535u16 {
            l.update(s);
        }
        for s in 0..10u16 {
            if s != 3 && s != 4 {
                l.update(s);
            }
        }
        assert_eq!(l.expected(), 16);
        assert_eq!(l.received(), 14);
        assert_eq!(l.lost(), 2);
    }

    #[test]
    fn loss_counts_reordering_and_duplicates_without_underflow() {
        let mut l = Loss::default();
        for s in [10u16, 12, 11, 11, 13] {
            l.update(s);
        }
        assert_eq!(l.expected(), 4);
        assert_eq!(l.lost(), 0);
        // A late packet from before the first widens the range.
        l.update(8);
        assert_eq!(l.expected(), 6);
        assert_eq!(l.lost(), 0, "5 distinct of 6 expected plus one duplicate");
    }

    #[test]
    fn extend_picks_the_nearest_cycle() {
        assert_eq!(extend(65535, 0), 65536);
        assert_eq!(extend(65536, 65535), 65535);
        assert_eq!(extend(70000, 4464), 70000);
        assert_eq!(extend(5, 65535), 65535, "no negative numbers near zero");
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut h = Histogram::default();
        for v in 1..=100 {
            h.record(v);
        }
        assert_eq!(h.quantile(0.5), Some(50));
        assert_eq!(h.quantile(0.99), Some(99));
        assert_eq!(h.quantile(1.0), Some(100));
        assert_eq!(h.quantile(0.0), Some(1));
        assert!(Histogram::default().quantile(0.5).is_none());
    }

    #[test]
    fn large_values_keep_two_percent_precision_and_merge() {
        let mut a = Histogram::default();
        let mut b = Histogram::default();
        for v in [10_000u64, 250_000, 3_000_000] {
            a.record(v);
            b.record(v);
        }
        a.merge(&b);
        assert_eq!(a.count(), 6);
        for (q, v) in [(0.3, 10_000u64), (0.6, 250_000), (1.0, 3_000_000)] {
            let got = a.quantile(q).expect("samples");
            assert!(
                got <= v && got as f64 >= v as f64 * 0.98,
                "{q}: {got} vs {v}"
            );
        }
        assert_eq!(a.summary().expect("samples").max, 3_000_000);
    }
}
