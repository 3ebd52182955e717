//! One listening turn of one call: audio in, partial results and one final
//! [`Transcript`] out. Audio is queued by the caller's thread and recognized
//! by a pool worker; a session is on the pool's queue at most once at a time,
//! so its frames are recognized in order and never by two threads at once.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::endpointer::{Decision, Endpointer, EndpointerConfig};
use crate::error::AsrError;
use crate::transcript::{EndReason, Transcript};
use crate::vocabulary::Vocabulary;

#[derive(Debug, Clone)]
pub struct ListenOptions {
    /// Restrict recognition to these words (plus `[unk]`); None uses the
    /// model's full vocabulary.
    pub vocabulary: Option<Vocabulary>,
    /// N-best alternatives to return (1 = best only).
    pub max_alternatives: u16,
    pub endpointer: EndpointerConfig,
}

impl Default for ListenOptions {
    fn default() -> Self {
        ListenOptions {
            vocabulary: None,
            max_alternatives: 5,
            endpointer: EndpointerConfig::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum SessionEvent {
    SpeechStarted,
    Partial(String),
    Final(Transcript),
}

/// Events a session can hold before partial results are dropped; the final
/// result always has room.
const EVENT_DEPTH: usize = 32;
const PARTIAL_RESERVE: usize = 4;
/// Frames between partial results when a batch of frames is recognized at once.
const PARTIAL_EVERY_FRAMES: usize = 10;

pub struct Session {
    pub(crate) inner: Arc<SessionInner>,
    events: mpsc::Receiver<SessionEvent>,
}

pub(crate) struct SessionInner {
    queue: Mutex<Queue>,
    work: Mutex<Work>,
    events: mpsc::Sender<SessionEvent>,
    max_backlog_samples: usize,
    active: Arc<AtomicUsize>,
    released: AtomicBool,
}

#[derive(Default)]
struct Queue {
    frames: VecDeque<Vec<i16>>,
    samples: usize,
    /// On the pool's queue or being processed.
    scheduled: bool,
    finish: Option<EndReason>,
    done: bool,
}

struct Work {
    recognizer: vosk::Recognizer,
    endpointer: Endpointer,
    processing: Duration,
    last_partial: String,
}

impl Session {
    pub(crate) fn new(
        recognizer: vosk::Recognizer,
        options: &ListenOptions,
        sample_rate: u32,
        max_backlog_samples: usize,
        active: Arc<AtomicUsize>,
    ) -> Session {
        let (tx, rx) = mpsc::channel(EVENT_DEPTH);
        let inner = Arc::new(SessionInner {
            queue: Mutex::new(Queue::default()),
            work: Mutex::new(Work {
                recognizer,
                endpointer: Endpointer::new(options.endpointer, sample_rate),
                processing: Duration::ZERO,
                last_partial: String::new(),
            }),
            events: tx,
            max_backlog_samples,
            active,
            released: AtomicBool::new(false),
        });
        Session { inner, events: rx }
    }

    /// Queues one frame of audio at the model's rate. Returns true when the
    /// session needs a worker (the pool schedules it).
    pub(crate) fn enqueue(&self, frame: &[i16]) -> Result<bool, AsrError> {
        let mut q = lock(&self.inner.queue);
        if q.done || q.finish.is_some() {
            return Ok(false);
        }
        if q.samples + frame.len() > self.inner.max_backlog_samples {
            q.finish = Some(EndReason::Overloaded);
            return Err(AsrError::Overloaded);
        }
        q.samples += frame.len();
        q.frames.push_back(frame.to_vec());
        Ok(!std::mem::replace(&mut q.scheduled, true))
    }

    /// Asks for the final result now; returns true when the session needs a worker.
    pub(crate) fn request_finish(&self) -> bool {
        let mut q = lock(&self.inner.queue);
        if q.done {
            return false;
        }
        q.finish.get_or_insert(EndReason::Finished);
        !std::mem::replace(&mut q.scheduled, true)
    }

    pub async fn next_event(&mut self) -> Option<SessionEvent> {
        self.events.recv().await
    }

    pub fn try_event(&mut self) -> Option<SessionEvent> {
        self.events.try_recv().ok()
    }

    /// Waits (blocking the thread) for the next event.
    pub fn wait_event(&mut self) -> Option<SessionEvent> {
        self.events.blocking_recv()
    }

    /// Waits (blocking the thread) for the final transcript. For tools and
    /// benchmarks; calls use [`Session::next_event`].
    pub fn wait_final(&mut self) -> Option<Transcript> {
        while let Some(ev) = self.events.blocking_recv() {
            if let SessionEvent::Final(t) = ev {
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

    /// Recognizes everything queued. Returns true if more arrived meanwhile
    /// and the session must go back on the pool's queue.
    pub(crate) fn process(&self) -> bool {
        let (frames, finish) = {
            let mut q = lock(&self.queue);
            if q.done {
                q.scheduled = false;
                return false;
            }
            q.samples = 0;
            (std::mem::take(&mut q.frames), q.finish)
        };
        let mut work = lock(&self.work);
        let mut end = None;
        for (i, frame) in frames.iter().enumerate() {
            let started = Instant::now();
            // A rejected buffer only happens for absurd lengths; treat it as noise.
            let _ = work.recognizer.accept_waveform(frame);
            work.processing += started.elapsed();
            match work.endpointer.push(frame) {
                Decision::SpeechStarted => {
                    let _ = self.events.try_send(SessionEvent::SpeechStarted);
                }
                Decision::EndOfSpeech => end = Some(EndReason::EndOfSpeech),
                Decision::NoSpeech => end = Some(EndReason::NoSpeech),
                Decision::MaxDuration => end = Some(EndReason::MaxDuration),
                Decision::Listening => {}
            }
            if end.is_some() {
                break;
            }
            // Partials on audio time, however the frames were batched.
            if (i + 1) % PARTIAL_EVERY_FRAMES == 0 {
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
                self.send_partial(&mut work);
                let mut q = lock(&self.queue);
                let more = !q.frames.is_empty() || q.finish.is_some();
                q.scheduled = more;
                more
            }
        }
    }

    fn send_partial(&self, work: &mut Work) {
        if !work.endpointer.speech_detected() || self.events.capacity() <= PARTIAL_RESERVE {
            return;
        }
        let text = partial_text(&mut work.recognizer);
        if !text.is_empty() && text != work.last_partial {
            work.last_partial = text.clone();
            let _ = self.events.try_send(SessionEvent::Partial(text));
        }
    }

    fn finalize(&self, work: &mut Work, reason: EndReason) {
        let started = Instant::now();
        let alternatives = match reason {
            // Nothing was said: do not let the language model invent words.
            EndReason::NoSpeech => Vec::new(),
            _ => Transcript::from_vosk(work.recognizer.final_result()),
        };
        work.processing += started.elapsed();
        let transcript = Transcript {
            alternatives,
            reason,
            audio: work.endpointer.elapsed(),
            processing: work.processing,
        };
        {
            let mut q = lock(&self.queue);
            q.done = true;
            q.scheduled = false;
            q.frames.clear();
        }
        let _ = self.events.try_send(SessionEvent::Final(transcript));
        self.release();
    }
}

fn partial_text(recognizer: &mut vosk::Recognizer) -> String {
    recognizer.partial_result().partial.trim().to_string()
}

/// A poisoned lock only means another worker panicked mid-frame; the queue
/// itself is still consistent, so carry on with it.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
