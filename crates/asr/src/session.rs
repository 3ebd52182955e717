//! One listening turn of one call: audio in, partial results and one final
//! [`Transcript`] out. Audio is queued by the caller's thread and recognized
//! by a pool worker; a session is on the pool's queue at most once at a time,
//! so its frames are recognized in order and never by two threads at once.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::dither::Dither;
use crate::endpointer::{Decision, Endpointer, EndpointerConfig};
use crate::error::AsrError;
use crate::lag::Lag;
use crate::load::Load;
use crate::nuclei::{NucleiConfig, NucleusTrack};
use crate::transcript::{Alternative, Transcript, TurnEnd, TurnTiming};
use crate::vocabulary::Vocabulary;

#[derive(Debug, Clone)]
pub struct ListenOptions {
    /// Restrict recognition to these words (plus `[unk]`); None uses the
    /// model's full vocabulary.
    pub vocabulary: Option<Vocabulary>,
    /// N-best alternatives to return (1 = best only). A lattice of a
    /// slow word's readings fills a short list with one reading's
    /// variants ("하얀 하나", "하얀 하나 소", …) before the next reading of
    /// the word itself.
    pub max_alternatives: u16,
    pub endpointer: EndpointerConfig,
    /// Words a complete answer has, when known: after a pause of
    /// `endpointer.end_silence_when_complete`, the turn ends if the words
    /// heard so far (not counting `[unk]`) reach it.
    pub expected_words: Option<usize>,
    /// Send [`RecognitionEvent::Partial`] results while the caller speaks.
    /// Each costs the pool about a frame's recognition; a listener that
    /// ignores them turns them off. (The end-of-turn check for
    /// `expected_words` reads the decoder's partial result either way.)
    pub partials: bool,
    /// The end of speech ends the turn only once the recognizer has heard
    /// a word: before that, the "speech" was a noise burst the end-pointer
    /// took for the caller, and listening goes on (until the no-speech
    /// timeout or the longest turn) for the answer still to come.
    pub end_needs_words: bool,
    /// How the turn's syllable nuclei are picked ([`Transcript::nuclei`]).
    pub nuclei: NucleiConfig,
    /// Audio before the start of speech that the recognizer is given:
    /// what came earlier is silence or steady noise and is never decoded
    /// (a caller who waits seconds after the beep costs nothing more). It
    /// must cover the voiced audio the end-pointer needs to call it speech
    /// (`endpointer.min_speech`), a quiet onset below its threshold, and
    /// some silence the decoder starts from. None: every frame is decoded
    /// (the decoder's feature normalisation then starts on the whole
    /// wait, which changes marginal results either way).
    pub pre_roll: Option<Duration>,
    /// The audio is a recording pushed all at once, not a caller's arriving
    /// as spoken: how long it waits for a worker is not the pool's lag, and
    /// what its turn costs is not the pool's turn cost. Both tell admission
    /// about callers.
    pub recording: bool,
}

impl Default for ListenOptions {
    fn default() -> Self {
        ListenOptions {
            vocabulary: None,
            max_alternatives: 20,
            endpointer: EndpointerConfig::default(),
            expected_words: None,
            partials: true,
            end_needs_words: true,
            nuclei: NucleiConfig::default(),
            pre_roll: None,
            recording: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum RecognitionEvent {
    SpeechStarted,
    Partial(String),
    Final(Transcript),
}

/// Events a session can hold before partial results are dropped; the final
/// result always has room.
const EVENT_DEPTH: usize = 32;
const PARTIAL_RESERVE: usize = 4;
/// Frames handed to Vosk in one call while the caller is speaking. A live
/// call delivers one 20 ms frame every 20 ms. Vosk's own CPU hardly depends
/// on the piece (frame by frame about 1-2 % more than 100 ms pieces, 200
/// and 400 ms pieces 2-3 % less: crates/asr/benches/feed_pieces.rs); a
/// piece spares the calls into Vosk and their bookkeeping per frame. Once
/// the caller falls silent, frames go to Vosk one by one again: the end of
/// the turn is decided on what the decoder has heard by then, and in
/// pieces its partials came later (one test utterance's turn ended 240 ms
/// later). Whatever waits here is fed before anything reads the decoder
/// (a partial, a pause check, the final result).
const FEED_FRAMES: usize = 5;
/// Frames between partial results, on audio time (a multiple of
/// `FEED_FRAMES`, so a partial never forces a short feed).
const PARTIAL_EVERY_FRAMES: usize = 2 * FEED_FRAMES;
/// During a pause, how often to look whether the answer is complete (every
/// other 20 ms frame; a partial costs about a frame's recognition).
const PAUSE_CHECK_EVERY_FRAMES: usize = 2;
/// Frames a worker takes from a session in one pass (400 ms of audio, a
/// few milliseconds of recognition): a session behind by seconds goes back
/// on the queue between pieces instead of holding a worker while another
/// caller waits for their decision.
const PASS_FRAMES: usize = 20;

pub struct Session {
    pub(crate) inner: Arc<SessionInner>,
    events: mpsc::Receiver<RecognitionEvent>,
}

pub(crate) struct SessionInner {
    queue: Mutex<Queue>,
    work: Mutex<Work>,
    max_backlog_samples: usize,
    active: Arc<AtomicUsize>,
    lag: Arc<Lag>,
    load: Arc<Load>,
    released: AtomicBool,
    /// The caller has fallen silent after speech, or the result was asked
    /// for: the turn may end with the next frames (see the pool's queue).
    near_end: AtomicBool,
    /// Samples waiting for a worker: what a turn near its end still needs
    /// before its result. Changed only under the queue's lock, read by the
    /// pool without it.
    queued: AtomicUsize,
    /// The next pass panics, as a bug in it would.
    #[cfg(test)]
    pub(crate) panic_next_pass: AtomicBool,
}

/// What a session shares with its pool: the count of sessions holding a
/// slot, and the record of how long audio waits for a worker.
pub(crate) struct PoolShare {
    pub active: Arc<AtomicUsize>,
    pub lag: Arc<Lag>,
    pub load: Arc<Load>,
}

struct Queue {
    /// Audio waiting for a worker, each frame with when it was pushed.
    frames: VecDeque<(Vec<i16>, Instant)>,
    /// On the pool's queue or being processed.
    scheduled: bool,
    /// When the oldest audio not yet taken by a worker arrived.
    waiting_since: Option<Instant>,
    finish: Option<TurnEnd>,
    done: bool,
    /// The end-pointer run on the audio as it arrives, ahead of the
    /// worker's: a caller who has fallen silent is known to be near the end
    /// of the turn at once, not only when a worker reaches that audio, which
    /// behind a queue of callers still speaking is too late to put the turn
    /// first. It only orders the queue; the worker's own end-pointer decides.
    arrival: Endpointer,
    /// The arrival end-pointer has ended the turn (it listens no further,
    /// even where the worker's resumes after noise taken for speech).
    arrival_ended: bool,
    /// The worker's end-pointer was in a pause after its last pass.
    worker_in_silence: bool,
}

impl Queue {
    fn new(endpointer: Endpointer) -> Queue {
        Queue {
            frames: VecDeque::new(),
            scheduled: false,
            waiting_since: None,
            finish: None,
            done: false,
            arrival: endpointer,
            arrival_ended: false,
            worker_in_silence: false,
        }
    }

    /// Runs the arrival end-pointer on one frame.
    fn hear(&mut self, frame: &[i16]) {
        let decision = self.arrival.push(frame);
        if matches!(
            decision,
            Decision::EndOfSpeech | Decision::NoSpeech | Decision::MaxDuration
        ) {
            self.arrival_ended = true;
        }
    }

    /// Whether the turn may end with the audio queued or soon after: the
    /// result was asked for, or the caller has fallen silent after speech
    /// (by the audio arrived, or where the worker is).
    fn near_end(&self) -> bool {
        self.finish.is_some()
            || self.arrival_ended
            || self.arrival.in_silence()
            || self.worker_in_silence
    }
}

/// What queueing audio, or asking for the result, needs of the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Enqueued {
    /// The session is neither on the pool's queue nor being processed: put
    /// it there.
    Schedule,
    /// The session has just come near its turn's end while scheduled: if it
    /// waits among the sessions still hearing speech, move it ahead.
    Promote,
    /// The session is where it belongs.
    Queued,
}

struct Work {
    /// Where the turn's events go; none once the turn is abandoned, which
    /// closes the call's side.
    events: Option<mpsc::Sender<RecognitionEvent>>,
    recognizer: vosk::Recognizer,
    /// What Vosk finalised on its own during the turn (see
    /// [`Work::feed`]), in order.
    segments: Vec<Vec<Alternative>>,
    max_alternatives: usize,
    /// Decodes the same audio against a filler vocabulary (see
    /// [`crate::Filler`]); its best hypothesis joins the alternatives.
    filler: Option<(vosk::Recognizer, f32)>,
    endpointer: Endpointer,
    /// The turn's level and voicing, for its syllable nuclei: every frame
    /// the end-pointer sees.
    nuclei: NucleusTrack,
    nuclei_config: NucleiConfig,
    /// Audio the end-pointer has seen and Vosk not yet (see `FEED_FRAMES`);
    /// before speech, only the latest `pre_roll_samples` of it.
    unfed: Vec<i16>,
    /// Added to the audio as it goes to Vosk (`dither.rs`).
    dither: Dither,
    pre_roll_samples: usize,
    /// Speech was detected: from then on every frame goes to Vosk (a noise
    /// burst taken for speech and listened past included), so its clock
    /// stays `skipped_samples` behind the turn's.
    feeding: bool,
    /// Samples dropped before speech, never given to Vosk.
    skipped_samples: u64,
    unfed_frames: usize,
    /// Samples handed to Vosk so far.
    fed_samples: u64,
    processing: Duration,
    last_partial: String,
    /// Frames recognised since the last partial: partials go on audio time,
    /// however the frames were batched. A partial per batch was one per
    /// 20 ms frame on a live call and cost as much as the recognition.
    frames_since_partial: usize,
    expected_words: Option<usize>,
    partials: bool,
    end_needs_words: bool,
    /// Frames into the current pause, counted once it is long enough to end
    /// a complete answer.
    pause_frames: usize,
    /// When the latest voiced frame after the start of speech was pushed.
    last_speech_pushed: Option<Instant>,
}

impl Session {
    pub(crate) fn new(
        recognizer: vosk::Recognizer,
        filler: Option<(vosk::Recognizer, f32)>,
        options: &ListenOptions,
        sample_rate: u32,
        max_backlog_samples: usize,
        pool: PoolShare,
    ) -> Session {
        let (tx, rx) = mpsc::channel(EVENT_DEPTH);
        let inner = Arc::new(SessionInner {
            queue: Mutex::new(Queue::new(Endpointer::new(options.endpointer, sample_rate))),
            work: Mutex::new(Work {
                events: Some(tx),
                recognizer,
                segments: Vec::new(),
                max_alternatives: usize::from(options.max_alternatives.max(1)),
                filler,
                endpointer: Endpointer::new(options.endpointer, sample_rate),
                nuclei: NucleusTrack::new(sample_rate),
                nuclei_config: options.nuclei,
                unfed: Vec::new(),
                dither: Dither::new(),
                pre_roll_samples: options.pre_roll.map_or(0, |pre_roll| {
                    (pre_roll.as_secs_f64() * f64::from(sample_rate)) as usize
                }),
                // Without a pre-roll, every frame is decoded from the first.
                feeding: options.pre_roll.is_none(),
                skipped_samples: 0,
                unfed_frames: 0,
                fed_samples: 0,
                processing: Duration::ZERO,
                last_partial: String::new(),
                frames_since_partial: 0,
                expected_words: options.expected_words,
                partials: options.partials,
                end_needs_words: options.end_needs_words,
                pause_frames: 0,
                last_speech_pushed: None,
            }),
            max_backlog_samples,
            active: pool.active,
            lag: if options.recording {
                Arc::new(Lag::new(Instant::now()))
            } else {
                pool.lag
            },
            load: if options.recording {
                Arc::new(Load::new(Instant::now()))
            } else {
                pool.load
            },
            released: AtomicBool::new(false),
            near_end: AtomicBool::new(false),
            queued: AtomicUsize::new(0),
            #[cfg(test)]
            panic_next_pass: AtomicBool::new(false),
        });
        Session { inner, events: rx }
    }

    /// Queues one frame of audio at the model's rate, and says what the
    /// pool must do with the session.
    pub(crate) fn enqueue(&self, frame: &[i16]) -> Result<Enqueued, AsrError> {
        let mut q = lock(&self.inner.queue);
        if q.done || q.finish.is_some() {
            return Ok(Enqueued::Queued);
        }
        let queued = self.inner.queued() + frame.len();
        if queued > self.inner.max_backlog_samples {
            q.finish = Some(TurnEnd::Overloaded);
            return Err(AsrError::Overloaded);
        }
        self.inner.queued.store(queued, Ordering::Release);
        let now = Instant::now();
        q.frames.push_back((frame.to_vec(), now));
        q.waiting_since.get_or_insert(now);
        q.hear(frame);
        Ok(self.inner.scheduling(&mut q))
    }

    /// Asks for the final result now, and says what the pool must do with
    /// the session.
    pub(crate) fn request_finish(&self) -> Enqueued {
        let mut q = lock(&self.inner.queue);
        if q.done {
            return Enqueued::Queued;
        }
        q.finish.get_or_insert(TurnEnd::Finished);
        self.inner.scheduling(&mut q)
    }

    pub async fn next_event(&mut self) -> Option<RecognitionEvent> {
        self.events.recv().await
    }

    pub fn try_event(&mut self) -> Option<RecognitionEvent> {
        self.events.try_recv().ok()
    }

    /// Waits (blocking the thread) for the next event.
    pub fn wait_event(&mut self) -> Option<RecognitionEvent> {
        self.events.blocking_recv()
    }

    /// Waits (blocking the thread) for the final transcript. For tools and
    /// benchmarks; calls use [`Session::next_event`].
    pub fn wait_final(&mut self) -> Option<Transcript> {
        while let Some(ev) = self.events.blocking_recv() {
            if let RecognitionEvent::Final(t) = ev {
                return Some(t);
            }
        }
        None
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        lock(&self.inner.queue).done = true;
        self.inner.release();
    }
}

impl SessionInner {
    fn release(&self) {
        if !self.released.swap(true, Ordering::AcqRel) {
            self.active.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Ends the turn without a result after its recognition panicked: no
    /// more audio is taken, the pool's slot is given back, and the call's
    /// side of the events closes, so the call hears at once that nothing
    /// will come.
    pub(crate) fn abandon(&self) {
        {
            let mut q = lock(&self.queue);
            q.done = true;
            q.scheduled = false;
            q.frames.clear();
            self.queued.store(0, Ordering::Release);
            q.waiting_since = None;
        }
        // The slot first: a call that hears nothing will come may start
        // another turn at once.
        self.release();
        lock(&self.work).events = None;
    }

    /// Whether the turn may end with its next frames: its session goes
    /// ahead of those still hearing speech.
    pub(crate) fn near_end(&self) -> bool {
        self.near_end.load(Ordering::Acquire)
    }

    /// Samples waiting for a worker.
    pub(crate) fn queued(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }

    /// Publishes where the turn stands after a change to `q`, and what the
    /// pool must do: schedule the session if it is not, or move it ahead
    /// if it has just come near the end while waiting.
    fn scheduling(&self, q: &mut Queue) -> Enqueued {
        let near = q.near_end();
        let was_near = self.near_end.swap(near, Ordering::AcqRel);
        if !std::mem::replace(&mut q.scheduled, true) {
            Enqueued::Schedule
        } else if near && !was_near {
            Enqueued::Promote
        } else {
            Enqueued::Queued
        }
    }

    /// Recognizes up to `PASS_FRAMES` of the audio queued (the final result
    /// once all of it is, when asked for). Returns true if audio is left or
    /// more arrived meanwhile and the session must go back on the pool's
    /// queue.
    pub(crate) fn process(&self) -> bool {
        let (frames, finish) = {
            let mut q = lock(&self.queue);
            if q.done {
                q.scheduled = false;
                return false;
            }
            // The lag is what a caller waiting for a decision feels: the
            // waits of the audio after their pause began, or after their
            // result was asked for. A session still hearing speech waits
            // behind them by design; whatever it is behind by shows when a
            // worker reaches its pause. A session put ahead as its caller
            // fell silent still has that speech queued: its wait is not yet
            // the caller's, whose pause began only now.
            let waited_in_pause = q.worker_in_silence || q.finish.is_some();
            if let Some(since) = q.waiting_since.take().filter(|_| waited_in_pause) {
                let now = Instant::now();
                self.lag.record(now, now.saturating_duration_since(since));
            }
            let take = q.frames.len().min(PASS_FRAMES);
            let frames: Vec<(Vec<i16>, Instant)> = q.frames.drain(..take).collect();
            let taken = frames.iter().map(|(f, _)| f.len()).sum::<usize>();
            self.queued.fetch_sub(taken, Ordering::AcqRel);
            q.waiting_since = q.frames.front().map(|(_, pushed)| *pushed);
            // The result waits for the audio still queued.
            let finish = q.finish.filter(|_| q.frames.is_empty());
            (frames, finish)
        };
        let mut work = lock(&self.work);
        #[cfg(test)]
        if self.panic_next_pass.swap(false, Ordering::AcqRel) {
            panic!("a pass made to panic by a test");
        }
        let mut end = None;
        for (frame, pushed) in frames.iter() {
            work.unfed.extend_from_slice(frame);
            work.unfed_frames += 1;
            let decision = work.endpointer.push(frame);
            work.nuclei.push(frame);
            if work.endpointer.speech_detected() && work.endpointer.last_frame_voiced() {
                work.last_speech_pushed = Some(*pushed);
            }
            if !work.feeding {
                if work.endpointer.speech_detected() {
                    work.feeding = true;
                } else {
                    work.keep_pre_roll();
                }
            }
            if work.feeding && (work.unfed_frames >= FEED_FRAMES || work.endpointer.in_silence()) {
                work.feed();
            }
            match decision {
                Decision::SpeechStarted => {
                    work.send(RecognitionEvent::SpeechStarted);
                }
                Decision::EndOfSpeech => {
                    if work.end_needs_words && words_heard(&mut work) == 0 {
                        // Noise taken for speech, before the answer: keep
                        // listening for it.
                        work.endpointer.resume();
                        work.pause_frames = 0;
                    } else {
                        end = Some(TurnEnd::EndOfSpeech);
                    }
                }
                Decision::NoSpeech => end = Some(TurnEnd::NoSpeech),
                Decision::MaxDuration => end = Some(TurnEnd::MaxDuration),
                Decision::Listening => {
                    if work.endpointer.paused() {
                        // A partial every few frames of the pause, not every
                        // frame: the last word can take the decoder a moment.
                        if work.pause_frames.is_multiple_of(PAUSE_CHECK_EVERY_FRAMES)
                            && answer_complete(&mut work)
                        {
                            end = Some(TurnEnd::EndOfSpeech);
                        }
                        work.pause_frames += 1;
                    } else {
                        work.pause_frames = 0;
                    }
                }
            }
            if end.is_some() {
                break;
            }
            work.frames_since_partial += 1;
            if work.frames_since_partial >= PARTIAL_EVERY_FRAMES {
                work.frames_since_partial = 0;
                self.send_partial(&mut work);
            }
        }
        let end = end.or(finish);
        match end {
            Some(reason) => {
                self.finalize(&mut work, reason);
                false
            }
            None => {
                let mut q = lock(&self.queue);
                q.worker_in_silence = work.endpointer.in_silence();
                self.near_end.store(q.near_end(), Ordering::Release);
                let more = !q.frames.is_empty() || q.finish.is_some();
                q.scheduled = more;
                more
            }
        }
    }

    fn send_partial(&self, work: &mut Work) {
        if !work.partials {
            // Vosk gets its audio in the same pieces either way.
            if work.feeding {
                work.feed();
            }
            return;
        }
        // No partial before speech: there is nothing to say yet (and
        // with a pre-roll, nothing fed). Speech detected, Vosk is fed.
        let crowded = work
            .events
            .as_ref()
            .is_none_or(|events| events.capacity() <= PARTIAL_RESERVE);
        if !work.endpointer.speech_detected() || crowded {
            return;
        }
        work.feed();
        let text = partial_text(&mut work.recognizer);
        if !text.is_empty() && text != work.last_partial {
            work.last_partial = text.clone();
            work.send(RecognitionEvent::Partial(text));
        }
    }

    fn finalize(&self, work: &mut Work, reason: TurnEnd) {
        let ended = Instant::now();
        let (alternatives, nuclei) = match reason {
            // Nothing was said: do not let the language model invent words.
            TurnEnd::NoSpeech => (Vec::new(), Vec::new()),
            _ => {
                work.feed();
                let started = Instant::now();
                let last = Transcript::from_vosk(work.recognizer.final_result());
                let max = work.max_alternatives;
                let mut result = std::mem::take(&mut work.segments)
                    .into_iter()
                    .chain(std::iter::once(last))
                    .reduce(|heard, next| join_segments(&heard, &next, max))
                    .unwrap_or_default();
                if let Some((filler, penalty)) = work.filler.as_mut() {
                    let heard = Transcript::from_vosk(filler.final_result());
                    merge_filler(&mut result, heard.into_iter().next(), *penalty);
                }
                // Vosk's clock started where it was first fed.
                let skipped = work
                    .endpointer
                    .duration_of(work.skipped_samples)
                    .as_secs_f32();
                if skipped > 0.0 {
                    for word in result.iter_mut().flat_map(|a| a.words.iter_mut()) {
                        word.start += skipped;
                        word.end += skipped;
                    }
                }
                let nuclei = work.nuclei.nuclei(&work.nuclei_config);
                work.processing += started.elapsed();
                (result, nuclei)
            }
        };
        self.load.record_turn(work.processing);
        let transcript = Transcript {
            alternatives,
            reason,
            audio: work.endpointer.elapsed(),
            recognised: work.endpointer.duration_of(work.fed_samples),
            processing: work.processing,
            nuclei,
            timing: Some(TurnTiming {
                last_speech_pushed: work.last_speech_pushed,
                ended,
                decoded: Instant::now(),
            }),
        };
        {
            let mut q = lock(&self.queue);
            q.done = true;
            q.scheduled = false;
            q.frames.clear();
        }
        work.send(RecognitionEvent::Final(transcript));
        self.release();
    }
}

impl Work {
    /// Passes an event to the call, unless the turn was abandoned; a full
    /// channel drops it (partials only: the final result has room).
    fn send(&self, event: RecognitionEvent) {
        if let Some(events) = &self.events {
            let _ = events.try_send(event);
        }
    }

    /// Before speech: drops all but the latest `pre_roll_samples` of the
    /// audio waiting for Vosk.
    fn keep_pre_roll(&mut self) {
        let excess = self.unfed.len().saturating_sub(self.pre_roll_samples);
        if excess > 0 {
            self.unfed.drain(..excess);
            self.skipped_samples += excess as u64;
        }
    }

    /// Hands Vosk the audio the end-pointer has already seen.
    fn feed(&mut self) {
        if self.unfed.is_empty() {
            return;
        }
        let started = Instant::now();
        self.dither.apply(&mut self.unfed);
        // Vosk ends an utterance on its own after a pause (the model's
        // endpoint rules, 0.5 s of silence and more); what it heard is then
        // only in `result()`, and `final_result()` would start after it. A
        // rejected buffer only happens for absurd lengths; treat it as noise.
        if let Ok(vosk::DecodingState::Finalized) = self.recognizer.accept_waveform(&self.unfed) {
            let heard = Transcript::from_vosk(self.recognizer.result());
            if !heard.is_empty() {
                self.segments.push(heard);
            }
        }
        if let Some((filler, _)) = self.filler.as_mut() {
            let _ = filler.accept_waveform(&self.unfed);
        }
        self.processing += started.elapsed();
        self.fed_samples += self.unfed.len() as u64;
        self.unfed.clear();
        self.unfed_frames = 0;
    }
}

/// Adds the filler's best hypothesis, at its score less `penalty`, to the
/// alternatives, best first. The same words as an alternative already there
/// keep the higher score.
fn merge_filler(alternatives: &mut Vec<Alternative>, filler: Option<Alternative>, penalty: f32) {
    let Some(mut filler) = filler else { return };
    filler.filler = true;
    filler.confidence -= penalty;
    if let Some(same) = alternatives.iter_mut().find(|a| a.text == filler.text) {
        same.confidence = same.confidence.max(filler.confidence);
    } else {
        alternatives.push(filler);
    }
    alternatives.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
}

/// The alternatives of two pieces of one turn that Vosk decoded apart:
/// every pair, its words in order and its score the sum (log-likelihoods of
/// consecutive audio add up), best first, at most `max` of them. An empty
/// piece leaves the other as it is.
fn join_segments(first: &[Alternative], second: &[Alternative], max: usize) -> Vec<Alternative> {
    if first.is_empty() || second.is_empty() {
        return if first.is_empty() { second } else { first }.to_vec();
    }
    let mut joined: Vec<Alternative> = first
        .iter()
        .flat_map(|a| {
            second.iter().map(move |b| Alternative {
                text: format!("{} {}", a.text, b.text),
                confidence: a.confidence + b.confidence,
                filler: a.filler || b.filler,
                words: a.words.iter().chain(&b.words).cloned().collect(),
            })
        })
        .collect();
    joined.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
    joined.truncate(max.max(1));
    joined
}

/// Whether the words heard so far reach the number expected.
fn answer_complete(work: &mut Work) -> bool {
    let Some(expected) = work.expected_words else {
        return false;
    };
    expected > 0 && words_heard(work) >= expected
}

/// Words (not `[unk]`) heard so far: what Vosk finalised, by its best
/// alternatives, and its partial result.
fn words_heard(work: &mut Work) -> usize {
    work.feed();
    let text = partial_text(&mut work.recognizer);
    // What Vosk already finalised counts too: its best words.
    let finalised = work
        .segments
        .iter()
        .filter_map(|s| s.first())
        .map(|a| a.text.as_str());
    finalised
        .chain(std::iter::once(text.as_str()))
        .flat_map(str::split_whitespace)
        .filter(|w| *w != "[unk]")
        .count()
}

fn partial_text(recognizer: &mut vosk::Recognizer) -> String {
    recognizer.partial_result().partial.trim().to_string()
}

/// A poisoned lock only means another worker panicked mid-frame; the queue
/// itself is still consistent, so carry on with it.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alternative(text: &str, confidence: f32) -> Alternative {
        Alternative {
            text: text.into(),
            confidence,
            filler: false,
            words: Vec::new(),
        }
    }

    #[test]
    fn pieces_vosk_decoded_apart_join_best_first() {
        let first = [alternative("하얀", 50.0), alternative("하나", 49.0)];
        let second = [alternative("말", 40.0), alternative("말 소", 39.5)];
        let joined = join_segments(&first, &second, 3);
        assert_eq!(
            joined
                .iter()
                .map(|a| (a.text.as_str(), a.confidence))
                .collect::<Vec<_>>(),
            [("하얀 말", 90.0), ("하얀 말 소", 89.5), ("하나 말", 89.0)]
        );
        // An empty piece changes nothing.
        assert_eq!(join_segments(&first, &[], 5), first);
        assert_eq!(join_segments(&[], &second, 5), second);
    }
}
