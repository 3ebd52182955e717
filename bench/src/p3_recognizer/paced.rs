//! Streams fed as a call feeds them: one 20 ms frame every 20 ms of wall
//! time, from a tokio task that also waits for the session's events (what
//! the call driver in crates/passgate/src/call/ does), then the passphrase decision the
//! product makes on the final result (services.rs → the account store →
//! Argon2id on a blocking thread).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use asr::{ListenOptions, RecognitionEvent, Recognizer, Session, Transcript, TurnEnd};
use auth::flow::{AccountId, Alternatives, PassphraseCheck};
use auth::passphrase::{MatchRule, WordSpan};
use auth::store::Store;

use super::speech::{Utterance, FRAME};

/// However long the end-pointer takes, a call is over long before this.
const GIVE_UP_AFTER: Duration = Duration::from_secs(20);

pub struct Paced {
    /// When each frame was handed to the recognizer.
    pub fed: Vec<Instant>,
    pub final_at: Instant,
    pub transcript: Transcript,
    pub utterance: Arc<Utterance>,
}

impl Paced {
    pub fn last_speech_fed(&self) -> Option<Instant> {
        self.fed.get(self.utterance.last_speech).copied()
    }

    /// The frame that made the end-pointer fire: the session's audio ends
    /// with it.
    fn end_of_speech_frame(&self) -> Option<usize> {
        if self.transcript.reason != TurnEnd::EndOfSpeech {
            return None;
        }
        let frames = (self.transcript.audio.as_micros() / FRAME.as_micros()) as usize;
        frames.checked_sub(1)
    }

    pub fn end_of_speech_fed(&self) -> Option<Instant> {
        self.fed.get(self.end_of_speech_frame()?).copied()
    }

    /// The end-pointer fired before the speech ended: it took a pause, or
    /// the steady end of a long vowel, for silence. The decision then came
    /// on what had been heard so far.
    pub fn cut_off(&self) -> bool {
        self.end_of_speech_frame()
            .is_some_and(|f| f < self.utterance.last_speech)
    }

    /// From the end-pointer's frame to the final result in hand.
    pub fn finalisation(&self) -> Option<Duration> {
        Some(
            self.final_at
                .saturating_duration_since(self.end_of_speech_fed()?),
        )
    }
}

/// Opens a session at `start` and feeds it (see [`feed`]).
pub async fn stream(
    rec: Recognizer,
    options: ListenOptions,
    utterance: Arc<Utterance>,
    start: Instant,
) -> anyhow::Result<Paced> {
    tokio::time::sleep_until(start.into()).await;
    let session = rec
        .start(&options)
        .context("opening a recognizer session")?;
    feed(&rec, session, utterance, Instant::now()).await
}

/// Feeds `utterance` from `start` on, then silence, until the final result.
pub async fn feed(
    rec: &Recognizer,
    mut session: Session,
    utterance: Arc<Utterance>,
    start: Instant,
) -> anyhow::Result<Paced> {
    let silence = vec![0i16; utterance.frames.first().map_or(0, Vec::len)];
    let give_up = (GIVE_UP_AFTER.as_micros() / FRAME.as_micros()) as usize;
    let mut fed = Vec::with_capacity(utterance.frames.len() * 2);
    loop {
        let due = start + FRAME * fed.len() as u32;
        tokio::select! {
            event = session.next_event() => match event {
                Some(RecognitionEvent::Final(transcript)) => {
                    return Ok(Paced {
                        fed,
                        final_at: Instant::now(),
                        transcript,
                        utterance,
                    });
                }
                Some(_) => {}
                None => bail!("the session ended without a final result"),
            },
            _ = tokio::time::sleep_until(due.into()), if fed.len() < give_up => {
                let frame = utterance.frames.get(fed.len()).unwrap_or(&silence);
                fed.push(Instant::now());
                // Overloaded: the session finishes itself and the final
                // result (reason Overloaded) still arrives.
                let _ = rec.push(&session, frame);
                if fed.len() == give_up {
                    rec.finish(&session);
                }
            }
        }
    }
}

/// One utterance fed in real time, then the product's decision on it.
pub struct Decided {
    pub paced: Paced,
    pub check: PassphraseCheck,
    pub decided_at: Instant,
    /// Process CPU time from the first frame to the final result.
    pub cpu: Duration,
    /// Wall time to open the session (Vosk builds the grammar's graph).
    pub open: Duration,
}

impl Decided {
    /// End of speech to decision, and its parts: the end-pointer's wait,
    /// the recognizer's finalisation, the passphrase check.
    pub fn latency(&self) -> Option<Latency> {
        if self.paced.cut_off() {
            return None;
        }
        let speech = self.paced.last_speech_fed()?;
        let end = self.paced.end_of_speech_fed()?;
        Some(Latency {
            total: self.decided_at.saturating_duration_since(speech),
            end_pointer: end.saturating_duration_since(speech),
            finalisation: self.paced.final_at.saturating_duration_since(end),
            check: self
                .decided_at
                .saturating_duration_since(self.paced.final_at),
        })
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Latency {
    pub total: Duration,
    pub end_pointer: Duration,
    pub finalisation: Duration,
    pub check: Duration,
}

pub struct Account {
    pub store: Store,
    pub id: AccountId,
    pub rule: MatchRule,
}

pub async fn decide(
    rec: &Recognizer,
    options: &ListenOptions,
    utterance: Arc<Utterance>,
    account: &Account,
) -> anyhow::Result<Decided> {
    let opening = Instant::now();
    let session = rec.start(options).context("opening a recognizer session")?;
    let open = opening.elapsed();
    let pid = std::process::id();
    let before = crate::proc_stats::sample(pid)?;
    let paced = feed(rec, session, utterance, Instant::now()).await?;
    let after = crate::proc_stats::sample(pid)?;
    // As the call hands them over (crates/passgate/src/call/heard.rs): with
    // their scores, their words' spans and the turn's syllable nuclei.
    let alternatives = Alternatives::timed(paced.transcript.alternatives.iter().map(|a| {
        let spans = a
            .words
            .iter()
            .map(|w| WordSpan {
                start: w.start,
                end: w.end,
            })
            .collect();
        (a.text.clone(), a.confidence, spans)
    }))
    .with_nuclei(paced.transcript.nuclei.clone());
    // The call task hands the check to its own task and hears back; the
    // spawn is part of the path.
    let (store, id, rule) = (account.store.clone(), account.id.clone(), account.rule);
    let check =
        tokio::spawn(async move { store.verify_passphrase(&id, &alternatives, &rule).await })
            .await?;
    Ok(Decided {
        paced,
        check,
        decided_at: Instant::now(),
        cpu: after.cpu.saturating_sub(before.cpu),
        open,
    })
}

/// K streams at once, their starts spread over one frame so their 20 ms
/// ticks do not all land together (calls are not in phase).
pub struct Load {
    pub streams: Vec<Paced>,
    pub refused: usize,
    pub wall: Duration,
    pub cpu: Duration,
}

impl Load {
    pub fn audio(&self) -> Duration {
        self.streams.iter().map(|p| p.transcript.audio).sum()
    }

    pub fn overloaded(&self) -> usize {
        self.streams
            .iter()
            .filter(|p| p.transcript.reason == TurnEnd::Overloaded)
            .count()
    }
}

pub async fn load(
    rec: &Recognizer,
    options: &ListenOptions,
    utterances: &[Arc<Utterance>],
    k: usize,
) -> anyhow::Result<Load> {
    if utterances.is_empty() {
        bail!("no utterances to stream");
    }
    let pid = std::process::id();
    let before = crate::proc_stats::sample(pid)?;
    let t0 = Instant::now() + Duration::from_millis(50);
    let tasks: Vec<_> = (0..k)
        .map(|i| {
            let start = t0 + FRAME * i as u32 / k as u32;
            let utterance = utterances[i % utterances.len()].clone();
            tokio::spawn(stream(rec.clone(), options.clone(), utterance, start))
        })
        .collect();
    let mut streams = Vec::with_capacity(k);
    let mut refused = 0;
    for task in tasks {
        match task.await? {
            Ok(p) => streams.push(p),
            // The pool's admission limit: counted, not fatal.
            Err(e) if is_busy(&e) => refused += 1,
            Err(e) => return Err(e),
        }
    }
    let after = crate::proc_stats::sample(pid)?;
    Ok(Load {
        streams,
        refused,
        wall: after.at.duration_since(before.at),
        cpu: after.cpu.saturating_sub(before.cpu),
    })
}

fn is_busy(e: &anyhow::Error) -> bool {
    matches!(
        e.downcast_ref::<asr::AsrError>(),
        Some(asr::AsrError::Busy(_))
    )
}
