//! P3 (e): what the lattice the passphrase decision needs costs. The same
//! paced turns, interleaved, through the model as it ships (its own
//! lattice beam, 5 alternatives) and as the product loads it
//! (`asr.lattice_beam`, `asr.listen.max_alternatives`), each model in a
//! pool of its own.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use asr::{DecoderOptions, ListenOptions, Recognizer, RecognizerConfig, SpeechModel};

use super::paced::{self, Account, Decided};
use super::speech::Utterance;
use super::{correct, latencies, Summary};

/// The model's own decoder and the product's, each over every utterance.
pub struct Compared {
    pub own: Vec<Decided>,
    pub product: Vec<Decided>,
    /// The alternatives asked for from the model's own lattice.
    pub own_alternatives: u16,
    pub product_alternatives: u16,
    pub own_beam: Option<f32>,
    pub product_beam: Option<f32>,
}

/// Loads the model a second time with its own settings and decides every
/// utterance `rounds` times through each, one after the other.
pub async fn compare(
    model_dir: &Path,
    product_pool: &Recognizer,
    product: &ListenOptions,
    utterances: &[Arc<Utterance>],
    account: &Account,
    rounds: usize,
) -> anyhow::Result<Compared> {
    let own_model = SpeechModel::load_with(model_dir, &DecoderOptions::model_own())
        .context("loading the model with its own settings")?;
    let own_pool = Recognizer::new(own_model, RecognizerConfig::default());
    let own_alternatives = 5;
    let own_options = ListenOptions {
        max_alternatives: own_alternatives,
        ..product.clone()
    };
    let (mut own, mut ours) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        for u in utterances {
            own.push(paced::decide(&own_pool, &own_options, u.clone(), account).await?);
            ours.push(paced::decide(product_pool, product, u.clone(), account).await?);
        }
    }
    Ok(Compared {
        own,
        product: ours,
        own_alternatives,
        product_alternatives: product.max_alternatives,
        own_beam: model_beam(model_dir),
        product_beam: DecoderOptions::default().lattice_beam,
    })
}

/// The `--lattice-beam` of a model's conf/model.conf.
fn model_beam(model_dir: &Path) -> Option<f32> {
    std::fs::read_to_string(model_dir.join("conf/model.conf"))
        .ok()?
        .lines()
        .find_map(|l| l.trim().strip_prefix("--lattice-beam=")?.parse().ok())
}

fn cpu_per_audio(runs: &[Decided]) -> Option<f64> {
    let cpu: Duration = runs.iter().map(|d| d.cpu).sum();
    let audio: Duration = runs.iter().map(|d| d.paced.transcript.audio).sum();
    (!audio.is_zero()).then(|| cpu.as_secs_f64() / audio.as_secs_f64())
}

pub fn table(c: &Compared) -> String {
    let beam = |b: Option<f32>| b.map_or("?".into(), |b| format!("{b}"));
    let mut md = String::from(
        "\n### (e) The lattice the decision needs, against the model's own\n\n\
         The passphrase decision sets aside a reading whose syllables are not in the \
         audio and judges the readings behind it, which a narrow lattice does not \
         hold. The same paced turns (vocabulary mode) alternate between the model \
         loaded with its own settings and as the product loads it, each in a pool of \
         its own; CPU is the process's from the first frame to the final result, over \
         the audio fed.\n\n\
         | decoder | lattice beam | alternatives | CPU s per audio s | recognizer finalisation p50 / p95 / max | decisions right |\n\
         |---|---|---|---|---|---|\n",
    );
    let mut row = |name: &str, b: Option<f32>, alts: u16, runs: &[Decided]| {
        let fin = Summary::of(latencies(runs).iter().map(|l| l.finalisation).collect())
            .map_or("—".into(), |s| s.show());
        md.push_str(&format!(
            "| {name} | {} | {alts} | {} | {fin} | {}/{} |\n",
            beam(b),
            cpu_per_audio(runs).map_or("—".into(), |r| format!("{r:.3}")),
            correct(runs),
            runs.len()
        ));
    };
    row("the model's own", c.own_beam, c.own_alternatives, &c.own);
    row(
        "the product's",
        c.product_beam,
        c.product_alternatives,
        &c.product,
    );
    if let (Some(own), Some(ours)) = (cpu_per_audio(&c.own), cpu_per_audio(&c.product)) {
        md.push_str(&format!(
            "\nThe product's lattice costs {:.2}× the model's own CPU per audio second.\n",
            ours / own
        ));
    }
    md
}
