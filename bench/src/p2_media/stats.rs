//! Jitter samples kept as a histogram with one-microsecond buckets: half a
//! million samples a step cost 800 KB either way, and a histogram merges and
//! answers percentiles without sorting.

/// Deviations beyond this (µs) are rare and kept one by one.
const RANGE_US: usize = 100_000;

#[derive(Debug, Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    overflow: Vec<u64>,
    total: u64,
    max_us: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; RANGE_US],
            overflow: Vec::new(),
            total: 0,
            max_us: 0,
        }
    }
}

impl Histogram {
    pub fn record(&mut self, us: u64) {
        match self.counts.get_mut(us as usize) {
            Some(c) => *c += 1,
            None => self.overflow.push(us),
        }
        self.total += 1;
        self.max_us = self.max_us.max(us);
    }

    pub fn max(&self) -> Option<u64> {
        (self.total > 0).then_some(self.max_us)
    }

    /// Nearest-rank percentile (`p` in 0..=100): the smallest sample with at
    /// least p % of the samples at or below it.
    pub fn percentile(&self, p: f64) -> Option<u64> {
        if self.total == 0 {
            return None;
        }
        let rank = ((p.clamp(0.0, 100.0) / 100.0) * self.total as f64)
            .ceil()
            .max(1.0) as u64;
        let mut seen = 0;
        for (us, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(us as u64);
            }
        }
        let mut rest = self.overflow.clone();
        rest.sort_unstable();
        let index = (rank - seen).saturating_sub(1) as usize;
        rest.get(index).copied().or(Some(self.max_us))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut h = Histogram::default();
        assert_eq!(h.percentile(50.0), None);
        for us in 1..=100 {
            h.record(us);
        }
        assert_eq!(h.total, 100);
        assert_eq!(h.percentile(50.0), Some(50));
        assert_eq!(h.percentile(99.0), Some(99));
        assert_eq!(h.percentile(100.0), Some(100));
        assert_eq!(h.percentile(0.0), Some(1));
        assert_eq!(h.max(), Some(100));
    }

    #[test]
    fn samples_beyond_the_range_keep_their_size() {
        let mut h = Histogram::default();
        for _ in 0..98 {
            h.record(300);
        }
        h.record(250_000);
        h.record(400_000);
        assert_eq!(h.percentile(50.0), Some(300));
        assert_eq!(h.percentile(99.0), Some(250_000));
        assert_eq!(h.percentile(100.0), Some(400_000));
        assert_eq!(h.percentile(98.0), Some(300));
        assert_eq!(h.max(), Some(400_000));
    }
}
