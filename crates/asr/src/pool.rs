//! A fixed set of worker threads recognizing sessions, and the admission
//! limit that keeps their work bounded.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::error::AsrError;
use crate::filler::Filler;
use crate::lag::Lag;
use crate::load::Load;
use crate::model::SpeechModel;
use crate::session::{Enqueued, ListenOptions, PoolShare, Session, SessionInner};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecognizerConfig {
    /// Worker threads (default: one per core).
    pub workers: usize,
    /// Sessions recognizing at once; more are refused with [`AsrError::Busy`].
    pub max_sessions: usize,
    /// Audio a session may have waiting before it is abandoned as overloaded.
    pub max_backlog: Duration,
    /// The workers' nice value (0 to 19): how far below the call's other
    /// work (the Argon2 checks, media, SIP) they run when the cores are
    /// short. Most of their work is for callers still speaking, who wait
    /// for nothing; a check waits with a caller for their decision.
    pub worker_nice: i32,
}

impl Default for RecognizerConfig {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        RecognizerConfig {
            workers: cores,
            max_sessions: cores * 8,
            max_backlog: Duration::from_secs(3),
            worker_nice: 0,
        }
    }
}

/// The shared model plus the worker pool. Cheap to clone.
#[derive(Clone)]
pub struct Recognizer {
    model: SpeechModel,
    config: RecognizerConfig,
    queue: Arc<RunQueue>,
    active: Arc<AtomicUsize>,
    lag: Arc<Lag>,
    load: Arc<Load>,
    filler: Option<Arc<Filler>>,
}

/// Sessions waiting for a worker. A session whose caller has fallen silent
/// after speech, or whose result was asked for, is near the end of its
/// turn: a caller is waiting for the decision that follows, so it goes
/// ahead of sessions still hearing speech, whose audio can wait a moment
/// without anyone waiting on it. Whether the caller has fallen silent is
/// known from the audio as it is pushed, so a session already waiting
/// behind others moves ahead then ([`RunQueue::promote`]): a worker that
/// had to reach its audio first would find the pause only after serving
/// the sessions queued before it.
#[derive(Default)]
struct RunQueue {
    queues: Mutex<Queues>,
    ready: Condvar,
}

#[derive(Default)]
struct Queues {
    ending: VecDeque<Arc<SessionInner>>,
    streaming: VecDeque<Arc<SessionInner>>,
}

impl RunQueue {
    fn lock(&self) -> MutexGuard<'_, Queues> {
        self.queues.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(&self, session: Arc<SessionInner>) {
        {
            let mut q = self.lock();
            if session.near_end() {
                q.ending.push_back(session);
            } else {
                q.streaming.push_back(session);
            }
        }
        self.ready.notify_one();
    }

    /// Does what queueing audio or asking for the result needs
    /// ([`Enqueued`]).
    fn place(&self, session: &Arc<SessionInner>, enqueued: Enqueued) {
        match enqueued {
            Enqueued::Schedule => self.push(session.clone()),
            Enqueued::Promote => self.promote(session),
            Enqueued::Queued => {}
        }
    }

    /// Moves `session` ahead if it waits among the sessions still hearing
    /// speech. Anywhere else it is already ahead, or a worker holds it and
    /// puts it back by where its turn now stands.
    fn promote(&self, session: &Arc<SessionInner>) {
        let mut q = self.lock();
        if let Some(at) = q.streaming.iter().position(|s| Arc::ptr_eq(s, session)) {
            if let Some(s) = q.streaming.remove(at) {
                q.ending.push_back(s);
            }
        }
    }

    /// The next session for a worker: of those near their turn's end, the
    /// one with the least audio still to recognize (the first of them when
    /// several have as little), else the longest waiting of the others.
    /// Turns near their end that share the workers pass by pass would all
    /// end late together; the shortest first ends most of them soonest, and
    /// a session only just past its pause, whose audio a worker has
    /// already taken, goes ahead of one whose caller fell silent with
    /// seconds of speech still queued.
    fn pop(&self) -> Arc<SessionInner> {
        let mut q = self.lock();
        loop {
            let shortest = q
                .ending
                .iter()
                .enumerate()
                .min_by_key(|(_, s)| s.queued())
                .map(|(at, _)| at);
            let next = match shortest {
                Some(at) => q.ending.remove(at),
                None => q.streaming.pop_front(),
            };
            if let Some(s) = next {
                return s;
            }
            q = self.ready.wait(q).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// Sets the calling thread's nice value to `nice` (Linux: per thread). A
/// failure leaves the thread at the process's priority, which only costs
/// the checks some waiting, so it is logged and the worker runs on.
fn lower_priority(nice: i32) {
    if nice == 0 {
        return;
    }
    // SAFETY: gettid and setpriority take no pointers; the results are
    // checked.
    let done = unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, nice)
    };
    if done != 0 {
        tracing::warn!(
            nice,
            error = %std::io::Error::last_os_error(),
            "could not lower a recognizer worker's priority (asr.worker_nice)"
        );
    }
}

impl Recognizer {
    pub fn new(model: SpeechModel, config: RecognizerConfig) -> Recognizer {
        let queue = Arc::new(RunQueue::default());
        let load = Arc::new(Load::new(Instant::now()));
        for n in 0..config.workers.max(1) {
            let (queue, load) = (queue.clone(), load.clone());
            let nice = config.worker_nice;
            let spawned = std::thread::Builder::new()
                .name(format!("{WORKER_THREAD_PREFIX}{n}"))
                .spawn(move || {
                    lower_priority(nice);
                    worker(&queue, &load)
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start a recognizer worker");
            }
        }
        Recognizer {
            model,
            config,
            queue,
            active: Arc::new(AtomicUsize::new(0)),
            lag: Arc::new(Lag::new(Instant::now())),
            load,
            filler: None,
        }
    }

    /// Sessions listening for the filler's vocabulary also decode against
    /// the filler ([`Filler`]).
    pub fn with_filler(mut self, filler: Filler) -> Recognizer {
        self.filler = Some(Arc::new(filler));
        self
    }

    pub fn model(&self) -> &SpeechModel {
        &self.model
    }

    /// Sessions currently holding a slot.
    pub fn active(&self) -> usize {
        self.active.load(Ordering::Acquire)
    }

    /// The longest any audio waited for a worker in the last one to two
    /// seconds: near zero while the pool keeps up, growing past capacity.
    pub fn lag(&self) -> Duration {
        self.lag.get(Instant::now())
    }

    /// Worker threads.
    pub fn workers(&self) -> usize {
        self.config.workers.max(1)
    }

    /// What the pool has measured of its own load (see [`PoolLoad`]).
    pub fn load(&self) -> PoolLoad {
        self.load.read(Instant::now(), self.workers())
    }

    /// Opens a session, or refuses at once when every slot is taken.
    pub fn start(&self, options: &ListenOptions) -> Result<Session, AsrError> {
        let taken = self.active.fetch_add(1, Ordering::AcqRel);
        if taken >= self.config.max_sessions {
            self.active.fetch_sub(1, Ordering::AcqRel);
            return Err(AsrError::Busy(self.config.max_sessions));
        }
        let rate = self.model.sample_rate();
        let made = match &options.vocabulary {
            Some(v) => {
                vosk::Recognizer::new_with_grammar(self.model.vosk(), rate as f32, &v.grammar())
            }
            None => vosk::Recognizer::new(self.model.vosk(), rate as f32),
        };
        let Some(mut recognizer) = made else {
            self.active.fetch_sub(1, Ordering::AcqRel);
            return Err(AsrError::RecognizerCreate);
        };
        recognizer.set_max_alternatives(options.max_alternatives.max(1));
        // Each word's timing: the passphrase decision weighs a phrase
        // stretched or broken by a word the decoder left out.
        recognizer.set_words(true);
        let filler = match &self.filler {
            Some(f) if f.applies_to(options.vocabulary.as_ref()) => {
                let made = vosk::Recognizer::new_with_grammar(
                    self.model.vosk(),
                    rate as f32,
                    &f.grammar().grammar(),
                );
                let Some(mut filler) = made else {
                    self.active.fetch_sub(1, Ordering::AcqRel);
                    return Err(AsrError::RecognizerCreate);
                };
                // One alternative: N-best form, whose score is the
                // hypothesis' log-likelihood.
                filler.set_max_alternatives(1);
                filler.set_words(true);
                Some((filler, f.penalty()))
            }
            _ => None,
        };
        let backlog = (self.config.max_backlog.as_millis() as usize) * rate as usize / 1000;
        Ok(Session::new(
            recognizer,
            filler,
            options,
            rate,
            backlog,
            PoolShare {
                active: self.active.clone(),
                lag: self.lag.clone(),
                load: self.load.clone(),
            },
        ))
    }

    /// Feeds one frame (16-bit mono at the model's rate) to a session.
    pub fn push(&self, session: &Session, frame: &[i16]) -> Result<(), AsrError> {
        match session.enqueue(frame) {
            Ok(enqueued) => {
                self.queue.place(&session.inner, enqueued);
                Ok(())
            }
            // The worker delivers the Overloaded transcript.
            Err(e) => {
                self.finish(session);
                Err(e)
            }
        }
    }

    /// Ends the session now: the final transcript follows.
    pub fn finish(&self, session: &Session) {
        self.queue.place(&session.inner, session.request_finish());
    }
}

pub use crate::load::PoolLoad;

/// How every recognizer worker thread's name begins.
pub const WORKER_THREAD_PREFIX: &str = "asr-";

/// Takes sessions off the queue and recognizes their audio, a piece at a
/// time. A turn whose recognition panics (a bug) ends without a result and
/// the worker goes on: a worker lost would take its share of every later
/// caller's turns with it.
fn worker(queue: &RunQueue, load: &Load) {
    loop {
        let session = queue.pop();
        let started = Instant::now();
        let more = match std::panic::catch_unwind(AssertUnwindSafe(|| session.process())) {
            Ok(more) => more,
            Err(_) => {
                tracing::error!("a recognizer turn panicked; it ends without a result");
                session.abandon();
                false
            }
        };
        let now = Instant::now();
        load.record_busy(now, now.saturating_duration_since(started));
        // More audio waits (a pass takes a bounded piece): back of its
        // queue, so one talkative call cannot starve the others.
        if more {
            queue.push(session);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    fn model() -> SpeechModel {
        SpeechModel::load(&crate::test_model_dir())
            .unwrap_or_else(|e| panic!("{e}: run `models/install.sh ko` (make test does)"))
    }

    /// Runs `f` on a thread of its own and gives its result, or fails the
    /// test if it takes longer than `limit` (a wait that never ends).
    fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(f());
        });
        rx.recv_timeout(limit)
            .unwrap_or_else(|_| panic!("still waiting after {limit:?}"))
    }

    /// A pool of one worker, room for four sessions and a backlog no test
    /// reaches.
    fn one_worker() -> Recognizer {
        Recognizer::new(
            model(),
            RecognizerConfig {
                workers: 1,
                max_sessions: 4,
                max_backlog: Duration::from_secs(30),
                worker_nice: 0,
            },
        )
    }

    #[test]
    fn a_turn_that_panics_ends_without_a_result_and_its_worker_goes_on() {
        let rec = one_worker();
        let silence = [0i16; 320];
        let mut broken = rec.start(&ListenOptions::default()).unwrap();
        broken.inner.panic_next_pass.store(true, Ordering::Release);
        rec.push(&broken, &silence).unwrap();
        // The call hears at once that nothing will come, and its slot is
        // free while it still holds the session.
        let (event, broken) = within(Duration::from_secs(10), move || {
            let event = broken.wait_event();
            (event, broken)
        });
        assert!(
            event.is_none(),
            "an abandoned turn sends nothing: {event:?}"
        );
        assert_eq!(rec.active(), 0);
        // Audio after the panic is not taken.
        rec.push(&broken, &silence).unwrap();
        drop(broken);

        // The one worker is still there for the next caller.
        let mut next = rec.start(&ListenOptions::default()).unwrap();
        for _ in 0..10 {
            rec.push(&next, &silence).unwrap();
        }
        rec.finish(&next);
        let transcript = within(Duration::from_secs(30), move || next.wait_final());
        assert!(transcript.is_some(), "the worker survived the panic");
        assert_eq!(rec.active(), 0);
    }

    /// `n` frames of 20 ms at 16 kHz that the end-pointer takes for
    /// speech: a tone whose loudness changes frame by frame, as syllables
    /// do (a steady one is taken for noise).
    fn voiced(n: usize) -> Vec<Vec<i16>> {
        (0..n)
            .map(|i| {
                let amplitude = if i % 2 == 0 { 8000.0 } else { 2000.0 };
                (0..320)
                    .map(|t| (amplitude * (t as f32 * 0.08).sin()) as i16)
                    .collect()
            })
            .collect()
    }

    /// A pool's sessions and a run queue of the test's own, which no
    /// worker takes from: what the queue holds is what a worker would take.
    fn two_sessions() -> (Recognizer, Session, Session) {
        let rec = one_worker();
        let talking = rec.start(&ListenOptions::default()).unwrap();
        let pausing = rec.start(&ListenOptions::default()).unwrap();
        (rec, talking, pausing)
    }

    fn act(queue: &RunQueue, session: &Session, enqueued: Enqueued) {
        queue.place(&session.inner, enqueued);
    }

    /// `frames` of speech from `session`'s caller, placed on `queue`.
    fn speak(queue: &RunQueue, session: &Session, frames: usize) {
        for frame in voiced(frames) {
            act(queue, session, session.enqueue(&frame).unwrap());
        }
    }

    #[test]
    fn a_caller_falling_silent_goes_ahead_of_audio_queued_before_theirs() {
        let (_rec, talking, pausing) = two_sessions();
        let queue = RunQueue::default();
        speak(&queue, &talking, 15);
        speak(&queue, &pausing, 15);
        // Both wait, speech queued, in the order they came.
        assert!(!pausing.inner.near_end());
        // The second caller's first silent frame: no worker has reached
        // their audio, yet their turn may end now and goes first.
        let silence = [0i16; 320];
        let enqueued = pausing.enqueue(&silence).unwrap();
        assert_eq!(enqueued, Enqueued::Promote);
        act(&queue, &pausing, enqueued);
        assert!(pausing.inner.near_end());
        assert!(Arc::ptr_eq(&queue.pop(), &pausing.inner));
        assert!(Arc::ptr_eq(&queue.pop(), &talking.inner));
    }

    #[test]
    fn a_result_asked_for_goes_ahead_of_audio_queued_before_it() {
        let (rec, talking, pausing) = two_sessions();
        let queue = RunQueue::default();
        speak(&queue, &talking, 5);
        speak(&queue, &pausing, 5);
        assert_eq!(pausing.request_finish(), Enqueued::Promote);
        queue.promote(&pausing.inner);
        assert!(Arc::ptr_eq(&queue.pop(), &pausing.inner));
        // Asked again, or more audio, changes nothing: it is ahead already.
        assert_eq!(pausing.request_finish(), Enqueued::Queued);
        drop(rec);
    }

    #[test]
    fn of_the_turns_near_their_end_the_least_audio_goes_first() {
        let (_rec, behind, caught_up) = two_sessions();
        let queue = RunQueue::default();
        // A caller who fell silent with a second of speech not yet taken,
        // then one with two frames left: the second ends first.
        speak(&queue, &behind, 50);
        act(&queue, &behind, behind.request_finish());
        speak(&queue, &caught_up, 2);
        act(&queue, &caught_up, caught_up.request_finish());
        assert_eq!(behind.inner.queued(), 50 * 320);
        assert!(Arc::ptr_eq(&queue.pop(), &caught_up.inner));
        assert!(Arc::ptr_eq(&queue.pop(), &behind.inner));
    }

    #[test]
    fn the_lag_is_the_wait_of_audio_after_the_pause_began_not_of_speech_put_ahead() {
        let (rec, talking, _) = two_sessions();
        speak(&RunQueue::default(), &talking, 15);
        std::thread::sleep(Duration::from_millis(300));
        // The caller falls silent with 300 ms old speech queued: put ahead,
        // but that speech waited while the caller was still talking.
        assert_eq!(talking.enqueue(&[0i16; 320]).unwrap(), Enqueued::Promote);
        talking.inner.process();
        assert!(rec.lag() < Duration::from_millis(250), "{:?}", rec.lag());
        // Audio queued in the pause a worker has reached is the caller's
        // wait for their decision.
        talking.enqueue(&[0i16; 320]).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        talking.inner.process();
        assert!(rec.lag() >= Duration::from_millis(300), "{:?}", rec.lag());
    }

    #[test]
    fn a_caller_still_speaking_stays_in_turn() {
        let (rec, talking, other) = two_sessions();
        let queue = RunQueue::default();
        speak(&queue, &talking, 15);
        speak(&queue, &other, 15);
        // Before any speech is heard, silence is no pause either.
        let quiet = rec.start(&ListenOptions::default()).unwrap();
        assert_eq!(quiet.enqueue(&[0i16; 320]).unwrap(), Enqueued::Schedule);
        assert!(!quiet.inner.near_end());
        assert!(Arc::ptr_eq(&queue.pop(), &talking.inner));
        assert!(Arc::ptr_eq(&queue.pop(), &other.inner));
    }

    #[test]
    fn a_worker_runs_at_the_nice_value_asked_for() {
        let nice = std::thread::spawn(|| {
            super::lower_priority(7);
            // SAFETY: getpriority and gettid take no pointers.
            unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) }
        })
        .join()
        .unwrap();
        assert_eq!(nice, 7);
        // The thread that asked nothing is untouched.
        // SAFETY: as above.
        let own = unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) };
        assert_ne!(own, 7);
    }
}
