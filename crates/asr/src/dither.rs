//! The faint noise added to audio before the model hears it, the same
//! every time.
//!
//! Kaldi adds random noise of one sample step to every frame before
//! computing features (`--dither`, 1.0 unless a model's feature config says
//! otherwise), so that digital silence has a finite log energy; the models
//! are trained with it. Its draws come from a generator shared by the whole
//! process, so with it the same recording scores differently each time it
//! is decoded, and near the margin decides differently: a call's decision
//! would depend on what the process decoded before, and `passgate
//! recognize` could not show the decision a call makes. Passgate
//! turns Kaldi's dither off (the model is loaded with `--dither=0`, see
//! `model.rs`) and adds its own here: a Gaussian of one sample step's
//! standard deviation, rounded to the sample, drawn from a generator each
//! session starts afresh. The same audio is then the same input, however it
//! is cut into pieces.

/// Where every session's draws start.
const SEED: u64 = 0x9E37_79B9_7F4A_7C15;

/// A session's dither.
#[derive(Debug, Clone)]
pub(crate) struct Dither {
    state: u64,
}

impl Dither {
    pub(crate) fn new() -> Dither {
        Dither { state: SEED }
    }

    /// Adds the next draws to `samples`, one each, saturating at full scale.
    pub(crate) fn apply(&mut self, samples: &mut [i16]) {
        for sample in samples {
            *sample = sample.saturating_add(self.next_step());
        }
    }

    /// A draw of a Gaussian of standard deviation 1, rounded: the sum of
    /// the eight bytes of a uniform 64-bit draw is close to normal (mean
    /// 1020, standard deviation 209.0).
    fn next_step(&mut self) -> i16 {
        // xorshift64*
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        let draw = self.state.wrapping_mul(0x2545_F491_4F6C_DD1D);
        let sum: u32 = draw.to_le_bytes().iter().map(|&b| u32::from(b)).sum();
        ((f64::from(sum) - 1020.0) / 209.0).round() as i16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_samples_get_the_same_noise_however_they_are_cut() {
        let whole = {
            let mut s = vec![100i16; 1000];
            Dither::new().apply(&mut s);
            s
        };
        let mut pieces = vec![100i16; 1000];
        let mut dither = Dither::new();
        for piece in pieces.chunks_mut(7) {
            dither.apply(piece);
        }
        assert_eq!(whole, pieces);
    }

    #[test]
    fn the_noise_is_one_step_wide_around_zero_and_saturates() {
        let mut s = vec![0i16; 100_000];
        Dither::new().apply(&mut s);
        let n = s.len() as f64;
        let mean = s.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
        let var = s
            .iter()
            .map(|&x| (f64::from(x) - mean).powi(2))
            .sum::<f64>()
            / n;
        assert!(mean.abs() < 0.02, "mean {mean}");
        // A unit Gaussian rounded to integers has a variance of about 1.08.
        assert!((0.95..1.2).contains(&var), "variance {var}");
        assert!(s.iter().all(|&x| x.abs() <= 5));
        let mut loud = vec![i16::MAX; 64];
        Dither::new().apply(&mut loud);
        assert!(loud.iter().all(|&x| x >= i16::MAX - 5));
    }
}
