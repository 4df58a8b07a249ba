//! The four workloads of WORKLOADS.md and their model FLOPs.

use crate::BenchError;

/// A benchmark workload of `shared/bench/WORKLOADS.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Workload {
    /// 2 → 256³ → 2 MLP generator, 2 → 256³ → 1 LeakyReLU critic, points `[512, 2]`,
    /// non-saturating, Adam 1e-4 (0.5, 0.999).
    Ring8Mlp,
    /// z 100 → 128 → 256 → 512 → 1024 → 784 generator (BatchNorm after every hidden layer but
    /// the first), 784 → 512 → 256 → 1 critic, images `[64, 1, 28, 28]`, non-saturating,
    /// Adam 2e-4 (0.5, 0.999).
    MnistMlp,
    /// The DCGAN pair (fully connected stem, two transposed convolutions / two strided
    /// convolutions and a dense head), images `[64, 1, 28, 28]`, non-saturating, Adam 2e-4
    /// (0.5, 0.999).
    MnistDcgan,
    /// The DCGAN pair with WGAN-GP (λ = 10, one interpolation factor per sample), 5 critic
    /// steps per generator step, Adam 1e-4 (0, 0.9).
    MnistDcganGp,
}

impl Workload {
    /// Every workload, in WORKLOADS.md order.
    pub const ALL: [Workload; 4] = [
        Workload::Ring8Mlp,
        Workload::MnistMlp,
        Workload::MnistDcgan,
        Workload::MnistDcganGp,
    ];

    /// The name used in WORKLOADS.md, on the command line and in the JSON reports.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Ring8Mlp => "ring8-mlp",
            Workload::MnistMlp => "mnist-mlp",
            Workload::MnistDcgan => "mnist-dcgan",
            Workload::MnistDcganGp => "mnist-dcgan-gp",
        }
    }

    /// The workload called `name`; the error lists the known names.
    pub fn from_name(name: &str) -> Result<Self, BenchError> {
        Self::ALL
            .into_iter()
            .find(|w| w.name() == name)
            .ok_or_else(|| {
                let known: Vec<&str> = Self::ALL.iter().map(|w| w.name()).collect();
                BenchError::Usage(format!(
                    "unknown workload {name:?}; choose one of: {}, or all",
                    known.join(", ")
                ))
            })
    }

    /// Whether the workload trains on images (its batch size can be changed with
    /// [`BenchOptions::batch`](crate::BenchOptions::batch)).
    pub fn is_image(self) -> bool {
        !matches!(self, Workload::Ring8Mlp)
    }

    /// WORKLOADS.md's batch size: 512 points for `ring8-mlp`, 64 images otherwise.
    pub fn default_batch(self) -> usize {
        if self.is_image() { 64 } else { 512 }
    }

    /// Discriminator updates per iteration (5 for WGAN-GP, 1 otherwise).
    pub fn critic_steps(self) -> usize {
        if self == Workload::MnistDcganGp { 5 } else { 1 }
    }

    /// Multiply-adds of one forward pass per sample of each network.
    pub fn model_flops(self) -> ModelFlops {
        match self {
            Workload::Ring8Mlp => ModelFlops {
                generator: mlp(&[2, 256, 256, 256, 2]),
                discriminator: mlp(&[2, 256, 256, 256, 1]),
            },
            Workload::MnistMlp => ModelFlops {
                generator: mlp(&[100, 128, 256, 512, 1024, 784]),
                discriminator: mlp(&[784, 512, 256, 1]),
            },
            Workload::MnistDcgan | Workload::MnistDcganGp => ModelFlops {
                // z → 1024 → 128·7·7, then 7×7×128 → 14×14×64 → 28×28×1 (k4, s2, p1).
                generator: mlp(&[100, 1024, 128 * 7 * 7])
                    + transposed_conv([7, 7], 128, 64, 4)
                    + transposed_conv([14, 14], 64, 1, 4),
                // 28×28×1 → 14×14×64 → 7×7×128 (k4, s2, p1), then 6272 → 1024 → 1.
                discriminator: conv([14, 14], 1, 64, 4)
                    + conv([7, 7], 64, 128, 4)
                    + mlp(&[128 * 7 * 7, 1024, 1]),
            },
        }
    }

    /// Model FLOPs of one iteration at `batch` (2 per multiply-add), the convention of
    /// WORKLOADS.md: a backward pass costs twice its forward pass, and only the matrix
    /// multiplies and convolutions count (normalisation, activations and the optimizer do not).
    ///
    /// With g and d the per-sample multiply-adds of one forward pass of G and D:
    /// - a discriminator step is g (detached fakes) + 2d (real and fake forward) + 4d
    ///   (their backward) = g + 6d;
    /// - a generator step is g + d forward and 2(g + d) backward = 3g + 3d;
    /// - the WGAN-GP penalty adds d (forward on the interpolates), d (their input gradient)
    ///   and 2d (differentiating that gradient with respect to D's weights) = 4d per critic
    ///   step — the same nominal count for PyTorch's double backward and for burngan's exact
    ///   first-order penalty, so the GFLOP/s of both sides are comparable.
    ///
    /// So an iteration is 4g + 9d multiply-adds per sample, and 8g + 53d with WGAN-GP's five
    /// critic steps. `ring8-mlp`: 1.756 GFLOP, `mnist-mlp`: 1.38, `mnist-dcgan`: 21.8 and
    /// `mnist-dcgan-gp`: 102.0 GFLOP at batch 64 (WORKLOADS.md: ≈ 1.7
    /// and ≈ 22).
    pub fn flops(self, batch: usize) -> f64 {
        let ModelFlops {
            generator: g,
            discriminator: d,
        } = self.model_flops();
        let critic_step = g
            + 6.0 * d
            + if self == Workload::MnistDcganGp {
                4.0 * d
            } else {
                0.0
            };
        let generator_step = 3.0 * g + 3.0 * d;
        let per_sample = self.critic_steps() as f64 * critic_step + generator_step;
        2.0 * per_sample * batch as f64
    }
}

/// Multiply-adds of one forward pass per sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelFlops {
    /// Of the generator, from the latent code to a sample.
    pub generator: f64,
    /// Of the discriminator, from a sample to its logit.
    pub discriminator: f64,
}

/// Multiply-adds of a chain of dense layers with the given widths.
fn mlp(widths: &[usize]) -> f64 {
    widths.windows(2).map(|w| (w[0] * w[1]) as f64).sum::<f64>()
}

/// Multiply-adds of a convolution producing `output` = [h, w] positions.
fn conv(output: [usize; 2], c_in: usize, c_out: usize, kernel: usize) -> f64 {
    (output[0] * output[1] * c_in * c_out * kernel * kernel) as f64
}

/// Multiply-adds of a transposed convolution reading `input` = [h, w] positions (each input
/// value is scattered through the whole kernel).
fn transposed_conv(input: [usize; 2], c_in: usize, c_out: usize, kernel: usize) -> f64 {
    (input[0] * input[1] * c_in * c_out * kernel * kernel) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The per-sample counts written out by hand, and the totals WORKLOADS.md quotes.
    #[test]
    fn flop_counts_match_the_hand_counts_and_workloads_md() {
        let ring = Workload::Ring8Mlp.model_flops();
        assert_eq!(ring.generator, (2 * 256 + 2 * 256 * 256 + 256 * 2) as f64);
        assert_eq!(ring.discriminator, (2 * 256 + 2 * 256 * 256 + 256) as f64);
        // 2 · 512 · (4 · 132096 + 9 · 131840) = 1,756,102,656.
        assert_eq!(Workload::Ring8Mlp.flops(512), 1_756_102_656.0);

        let dcgan = Workload::MnistDcgan.model_flops();
        // G: 100·1024 + 1024·6272 + 7·7·128·64·16 + 14·14·64·16 = 13,148,160.
        assert_eq!(dcgan.generator, 13_148_160.0);
        // D: 14·14·64·16 + 7·7·64·128·16 + 6272·1024 + 1024 = 13,046,784.
        assert_eq!(dcgan.discriminator, 13_046_784.0);
        let gflop = Workload::MnistDcgan.flops(64) / 1e9;
        assert!((gflop - 21.76).abs() < 0.01, "{gflop}");
        // WGAN-GP: 8g + 53d per sample.
        let gp = Workload::MnistDcganGp.flops(64);
        assert_eq!(gp, 2.0 * 64.0 * (8.0 * 13_148_160.0 + 53.0 * 13_046_784.0));
        // mnist-mlp: G 1,503,744 and D 532,736 multiply-adds per sample.
        let mlp = Workload::MnistMlp.model_flops();
        assert_eq!((mlp.generator, mlp.discriminator), (1_503_744.0, 532_736.0));
        // FLOPs scale with the batch.
        assert_eq!(
            Workload::MnistDcgan.flops(512),
            8.0 * Workload::MnistDcgan.flops(64)
        );
    }

    #[test]
    fn names_round_trip_and_unknown_names_list_the_choices() {
        for w in Workload::ALL {
            assert_eq!(Workload::from_name(w.name()).unwrap(), w);
        }
        let message = Workload::from_name("mnist").unwrap_err().to_string();
        assert!(message.contains("\"mnist\"") && message.contains("ring8-mlp, mnist-mlp"));
    }
}
