//! What a passphrase turn costs this node's recognizer, measured once at
//! start while nothing else runs. Admission takes a turn to cost at least
//! this times how much dearer turns get when they crowd
//! (`asr.admit_crowding_factor`): a floor fixed in the configuration is one
//! machine's, and would turn callers away that faster cores could carry,
//! or let in callers that slower cores could not.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use asr::{ListenOptions, Recognizer, Vocabulary};

use crate::call_audio::{through_a_call, Loss};
use crate::config::Config;
use crate::health::Health;
use crate::services::{Services, PROMPT_RATE};

/// Rounds of turns, one turn for every worker at once in each. The first
/// round pages the model in and warms the caches; it is not counted.
const ROUNDS: usize = 5;

/// The caller's pause after the beep, before the phrase.
const LEAD: Duration = Duration::from_millis(500);

/// Silence after the phrase: the end of the answer is heard in it.
const TAIL: Duration = Duration::from_millis(800);

/// The most audio a measuring turn is fed: all of it is pushed at once, and
/// the pool abandons a session with more than its backlog waiting.
const MOST_AUDIO: Duration = Duration::from_millis(2500);

/// The name of the phrase's recording: `prompts.dir` may hold one, a
/// typical caller's passphrase recorded, in place of the synthesised one.
pub const PHRASE_NAME: &str = "turn-cost-phrase";

/// How the passphrase step listens: `[asr.listen]`, the words `listened`
/// for (the vocabulary and its decoys), the words `expected` when the
/// account's phrase is known, and the step's own window.
pub fn passphrase_turn(
    config: &Config,
    listened: Option<Vocabulary>,
    expected: Option<usize>,
) -> ListenOptions {
    let step = &config.flow.passphrase;
    let mut options = config.asr.listen.options();
    options.vocabulary = listened;
    options.expected_words = expected;
    options.endpointer.no_speech_timeout = step.listen_timeout;
    options.endpointer.max_duration = step.listen_timeout + step.max_answer;
    options
}

/// The phrase measured: the first two words of the passphrase vocabulary,
/// a phrase a caller could enrol.
pub fn phrase(config: &Config) -> Option<String> {
    let words = config.flow.passphrase.vocabulary.as_ref()?;
    let phrase = words.iter().take(2).cloned().collect::<Vec<_>>().join(" ");
    (!phrase.is_empty()).then_some(phrase)
}

/// What a passphrase turn cost the recognizer when every worker had one at
/// once: `speech_8k` (the phrase at a call's rate) after a pause and
/// followed by silence, through a call's receive path, heard with
/// `options`. The mean of a round's turns, in the round that cost least:
/// whatever else runs on the machine only ever adds to a turn's cost, and
/// what is wanted is this hardware's. Blocks until the turns are decoded;
/// stops between rounds, with an error, once a caller's turn is open.
pub fn measure(
    recognizer: &Recognizer,
    options: &ListenOptions,
    speech_8k: &[i16],
) -> anyhow::Result<Duration> {
    let samples = |d: Duration| (d.as_millis() as usize) * PROMPT_RATE as usize / 1000;
    let mut pcm = vec![0i16; samples(LEAD)];
    pcm.extend_from_slice(speech_8k);
    pcm.extend(std::iter::repeat_n(0i16, samples(TAIL)));
    pcm.truncate(samples(MOST_AUDIO));
    let rate = recognizer.model().sample_rate();
    let heard = through_a_call(
        &pcm,
        Loss {
            percent: 0.0,
            seed: 0,
        },
        rate,
    )?;
    let mut rounds = Vec::new();
    for round in 0..ROUNDS {
        // Between rounds no turn of the measure's own is open: a session
        // open now is a caller's, whose audio the next round would hold up.
        if recognizer.active() > 0 {
            anyhow::bail!("a caller's turn began");
        }
        let mut sessions = (0..recognizer.workers())
            .map(|_| recognizer.start(options))
            .collect::<Result<Vec<_>, _>>()
            .context("opening a recognizer session")?;
        let mut fed = vec![true; sessions.len()];
        for frame in &heard.frames {
            for (session, fed) in sessions.iter().zip(fed.iter_mut()) {
                // A turn the end-pointer has ended takes no more audio.
                *fed = *fed && recognizer.push(session, frame).is_ok();
            }
        }
        for session in &sessions {
            recognizer.finish(session);
        }
        let mut spent = Duration::ZERO;
        for session in &mut sessions {
            let transcript = session
                .wait_final()
                .context("the recognizer stopped without a result")?;
            spent += transcript.processing;
        }
        let mean = spent / sessions.len().max(1) as u32;
        tracing::debug!(round, turn_ms = tenths_of_ms(mean), "measuring turns");
        if round > 0 {
            rounds.push(mean);
        }
    }
    rounds.into_iter().min().context("no turn was measured")
}

/// The least a turn is taken to cost, and how it was found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TurnCostFloor {
    pub floor: Duration,
    /// The turn measured at start, when the floor was measured.
    pub measured: Option<Duration>,
}

/// Admission's floor: `asr.admit_min_turn_cost_ms` when set; else a turn
/// measured on this node times `asr.admit_crowding_factor`, or, when no
/// turn could be measured, [`UNMEASURED`].
pub fn floor(config: &Config, measured: Option<Duration>) -> TurnCostFloor {
    if config.asr.admit_min_turn_cost_ms > 0 {
        return TurnCostFloor {
            floor: Duration::from_millis(config.asr.admit_min_turn_cost_ms),
            measured: None,
        };
    }
    match measured {
        Some(cost) => TurnCostFloor {
            floor: cost.mul_f64(config.asr.admit_crowding_factor),
            measured: Some(cost),
        },
        None => TurnCostFloor {
            floor: UNMEASURED,
            measured: None,
        },
    }
}

/// Measures the floor on `recognizer` with the phrase rendered by `tts`, as
/// the configuration asks; logs what it found.
pub async fn find_floor(
    config: &Config,
    recognizer: &Recognizer,
    tts: &crate::tts::Tts,
) -> TurnCostFloor {
    if config.asr.admit_min_turn_cost_ms > 0 || config.asr.admit_max_load <= 0.0 {
        return floor(config, None);
    }
    let started = Instant::now();
    let measured = match measured_turn(config, recognizer, tts).await {
        Ok(cost) => Some(cost),
        Err(e) => {
            tracing::warn!(
                error = format!("{e:#}"),
                fallback_ms = UNMEASURED.as_millis() as u64,
                "could not measure a passphrase turn; admission takes a turn to cost at least the fallback (asr.admit_min_turn_cost_ms sets it)"
            );
            None
        }
    };
    let found = floor(config, measured);
    if let Some(cost) = found.measured {
        tracing::info!(
            turn_ms = tenths_of_ms(cost),
            floor_ms = tenths_of_ms(found.floor),
            factor = config.asr.admit_crowding_factor,
            took_ms = started.elapsed().as_millis() as u64,
            "recognizer turn cost measured; admission takes a turn to cost at least the floor (asr.admit_crowding_factor)"
        );
    }
    found
}

/// How often, once the floor is due to be measured again, the recognizer
/// is looked at for a moment with no caller's turn in it.
const IDLE_POLL: Duration = Duration::from_secs(1);

/// Measures a turn again every `asr.admit_remeasure_secs`, at the first
/// moment after that no caller has a turn in the recognizer; the floor is
/// the cheapest turn measured so far (`measured_at_start` the first) times
/// the crowding factor, handed to admission and /metrics. Whatever else
/// runs on the machine only ever adds to a turn's cost, as at start: a
/// node started while its machine was busy measured a floor too high,
/// and one measured among calls (none of them in a turn at that moment)
/// must not raise it. A machine grown slower shows in the turn cost
/// admission learns from calls, which the floor only bounds from below. A
/// measure during which a caller's turn began is not kept: that turn
/// shared the workers with it. Runs for the node's life; returns at once
/// without a recognizer, when the floor is fixed, admission is off or
/// `admit_remeasure_secs` is 0.
pub async fn remeasure(
    config: Arc<Config>,
    services: Arc<Services>,
    health: Arc<Health>,
    measured_at_start: Option<Duration>,
) {
    let every = Duration::from_secs(config.asr.admit_remeasure_secs);
    let Some(recognizer) = &services.speech.recognizer else {
        return;
    };
    if every.is_zero() || config.asr.admit_min_turn_cost_ms > 0 || config.asr.admit_max_load <= 0.0
    {
        return;
    }
    let mut cheapest = measured_at_start;
    let mut due = tokio::time::Instant::now() + every;
    loop {
        tokio::time::sleep_until(due).await;
        if recognizer.active() > 0 {
            due = tokio::time::Instant::now() + IDLE_POLL;
            continue;
        }
        let measured = measured_turn(&config, recognizer, &services.speech.tts).await;
        if recognizer.active() > 0 {
            tracing::debug!("a caller's turn began while the turn cost was measured; not kept");
            due = tokio::time::Instant::now() + IDLE_POLL;
            continue;
        }
        match measured {
            Ok(cost) => {
                let least = cheapest.map_or(cost, |c| c.min(cost));
                cheapest = Some(least);
                let found = floor(&config, Some(least));
                health.set_turn_cost_floor(found.floor);
                services.metrics.admission_turn_cost_floor(found.floor);
                tracing::info!(
                    turn_ms = tenths_of_ms(cost),
                    cheapest_ms = tenths_of_ms(least),
                    floor_ms = tenths_of_ms(found.floor),
                    "recognizer turn cost measured again; admission takes a turn to cost at least the cheapest measured times the crowding factor"
                );
            }
            Err(e) => {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "could not measure a passphrase turn again; the floor stays as it was"
                );
            }
        }
        due = tokio::time::Instant::now() + every;
    }
}

/// `d` in ms, to a tenth: what the log shows.
fn tenths_of_ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 10_000.0).round() / 10.0
}

/// What admission takes a turn to cost at least when no turn could be
/// measured: a crowded turn on the slower of the benchmark's machines.
pub const UNMEASURED: Duration = Duration::from_millis(90);

async fn measured_turn(
    config: &Config,
    recognizer: &Recognizer,
    tts: &crate::tts::Tts,
) -> anyhow::Result<Duration> {
    let phrase = phrase(config).context("no passphrase vocabulary to say a phrase from")?;
    let speech = tts
        .render(PHRASE_NAME, &phrase)
        .await
        .context("rendering the phrase")?;
    let listened = config
        .flow
        .passphrase
        .vocabulary
        .as_ref()
        .map(Vocabulary::from_words);
    let words = phrase.split_whitespace().count();
    let options = ListenOptions {
        recording: true,
        ..passphrase_turn(config, listened, Some(words))
    };
    let recognizer = recognizer.clone();
    tokio::task::spawn_blocking(move || measure(&recognizer, &options, &speech))
        .await
        .context("the measuring task")?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_floor_in_the_configuration_rules_and_else_the_measured_turn_times_the_factor() {
        let mut config = Config::default();
        config.asr.admit_crowding_factor = 1.5;
        let ms = Duration::from_millis;
        let measured = floor(&config, Some(ms(40)));
        assert_eq!(measured.floor, ms(60));
        assert_eq!(measured.measured, Some(ms(40)));
        assert_eq!(floor(&config, None).floor, ms(90));
        config.asr.admit_min_turn_cost_ms = 70;
        let fixed = floor(&config, Some(ms(40)));
        assert_eq!(fixed.floor, ms(70));
        assert_eq!(fixed.measured, None);
    }

    #[test]
    fn the_phrase_is_the_first_two_words_of_the_passphrase_vocabulary() {
        let mut config = Config::default();
        assert_eq!(phrase(&config), None);
        config.flow.passphrase.vocabulary = Some(vec!["하얀".into(), "말".into(), "소".into()]);
        assert_eq!(phrase(&config).as_deref(), Some("하얀 말"));
        config.flow.passphrase.vocabulary = Some(vec!["하늘".into()]);
        assert_eq!(phrase(&config).as_deref(), Some("하늘"));
    }
}
