//! One media thread's loop: sleep to the next grid point, take what arrived,
//! run what is due, send, repeat.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use media::Transmit;
use std::panic::AssertUnwindSafe;

use super::poller::{Epoll, RecvBatch};
use super::recv_ring::{RecvRing, SLOTS};
use super::send_queue::SendQueue;
use super::{CallMediaCommand, CallMediaState, Cell, Command, Inbox, MediaCounters};

/// Wake-ups fall on this grid, so calls due within one tick are served by
/// one wake-up. A call's packets stay 20 ms apart: its due times keep the same
/// place on the grid.
const TICK: Duration = Duration::from_millis(1);
/// Longest a datagram waits to be read while calls are up; bounds how late a
/// key press or the caller's speech reaches the flow.
const MAX_RECEIVE_WAIT: Duration = Duration::from_millis(2);
const WAKE_TOKEN: u64 = 0;
/// Set in the epoll token of a call's RTCP socket; the rest is the call's token.
const RTCP_TOKEN: u64 = 1 << 63;

struct Entry {
    /// Shared with packets queued to leave from it.
    socket: Arc<UdpSocket>,
    rtcp_socket: UdpSocket,
    cell: Arc<Cell>,
    /// The deadline this entry has in the timer heap, if any.
    scheduled: Option<Instant>,
}

pub(super) struct Reactor {
    inbox: Arc<Inbox>,
    counters: Arc<MediaCounters>,
    epoll: Epoll,
    entries: HashMap<u64, Entry>,
    /// Deadlines; an entry whose deadline moved leaves a stale one here,
    /// skipped when it comes up.
    timers: BinaryHeap<Reverse<(Instant, u64)>>,
    batch: RecvBatch,
    /// Reads the ready sockets in one submission, where io_uring is allowed.
    recv_ring: Option<RecvRing>,
    /// The tokens and descriptors of one ring read, kept to reuse.
    ring_tokens: Vec<u64>,
    ring_fds: Vec<RawFd>,
    sends: SendQueue,
    epoch: Instant,
}

impl Reactor {
    /// `io_uring`: read a wake-up's ready sockets, and send its packets, in
    /// one submission each where the kernel allows it.
    pub(super) fn new(
        inbox: Arc<Inbox>,
        counters: Arc<MediaCounters>,
        io_uring: bool,
    ) -> io::Result<Reactor> {
        let epoll = Epoll::new()?;
        epoll.add(inbox.wake.raw(), WAKE_TOKEN)?;
        let sends = SendQueue::new(io_uring);
        let recv_ring = if io_uring {
            match RecvRing::new() {
                Ok(ring) => Some(ring),
                Err(e) => {
                    tracing::warn!(error = %e, "io_uring reads are unavailable; the media thread reads with recvmmsg()");
                    None
                }
            }
        } else {
            None
        };
        if sends.batches() {
            counters
                .io_uring_send_threads
                .fetch_add(1, Ordering::Relaxed);
        }
        if recv_ring.is_some() {
            counters
                .io_uring_receive_threads
                .fetch_add(1, Ordering::Relaxed);
        }
        Ok(Reactor {
            inbox,
            counters,
            epoll,
            entries: HashMap::new(),
            timers: BinaryHeap::new(),
            batch: RecvBatch::new(),
            recv_ring,
            ring_tokens: Vec::with_capacity(SLOTS),
            ring_fds: Vec::with_capacity(SLOTS),
            sends,
            epoch: Instant::now(),
        })
    }

    pub(super) fn run(&mut self) {
        let mut ready = Vec::new();
        let mut commands = Vec::new();
        let mut last_wake = Instant::now();
        loop {
            let waited = if self.entries.is_empty() {
                self.inbox.idle.store(true, Ordering::SeqCst);
                let result = if self.inbox_is_empty() {
                    self.epoll.wait(-1, &mut ready)
                } else {
                    Ok(())
                };
                self.inbox.idle.store(false, Ordering::SeqCst);
                result
            } else {
                self.sleep_until(self.next_wake(last_wake));
                self.epoll.wait(0, &mut ready)
            };
            if let Err(e) = waited {
                tracing::error!(error = %e, "media thread cannot wait for packets");
                std::thread::sleep(TICK);
            }
            let now = Instant::now();
            last_wake = now;

            self.inbox.take(&mut commands);
            for command in commands.drain(..) {
                if !self.apply(command, now) {
                    return;
                }
            }
            // Due packets first: how many datagrams arrived must not move
            // when they leave.
            self.run_timers(now);
            // The paced packets leave before the arrivals are read.
            self.sends.submit(&self.counters);
            self.receive_ready(&ready, now);
            self.sends.submit(&self.counters);
        }
    }

    fn inbox_is_empty(&self) -> bool {
        self.inbox
            .commands
            .lock()
            .map(|c| c.is_empty())
            .unwrap_or(false)
    }

    fn next_wake(&self, last_wake: Instant) -> Instant {
        let latest = last_wake + MAX_RECEIVE_WAIT;
        let due = match self.timers.peek() {
            Some(Reverse((at, _))) => (*at).min(latest),
            None => latest,
        };
        self.grid_ceil(due)
    }

    fn grid_ceil(&self, t: Instant) -> Instant {
        let since = t.saturating_duration_since(self.epoch).as_nanos();
        let tick = TICK.as_nanos();
        let ticks = since.div_ceil(tick);
        self.epoch + Duration::from_nanos((ticks * tick) as u64)
    }

    fn sleep_until(&self, at: Instant) {
        let now = Instant::now();
        if at > now {
            std::thread::sleep(at - now);
        }
    }

    /// Returns false when the thread must stop.
    fn apply(&mut self, command: Command, now: Instant) -> bool {
        match command {
            Command::Attach {
                token,
                socket,
                rtcp_socket,
                cell,
            } => {
                if let Err(e) = self.epoll.add(socket.as_raw_fd(), token) {
                    tracing::error!(error = %e, "cannot watch an RTP socket; the call will hear nothing");
                }
                if let Err(e) = self.epoll.add(rtcp_socket.as_raw_fd(), token | RTCP_TOKEN) {
                    tracing::warn!(error = %e, "cannot watch an RTCP socket; the caller's reports go unread");
                }
                self.entries.insert(
                    token,
                    Entry {
                        socket: Arc::new(socket),
                        rtcp_socket,
                        cell,
                        scheduled: None,
                    },
                );
                self.after_change(token, now);
            }
            Command::Change(token, change) => self.change(token, change, now),
            #[cfg(test)]
            Command::Panic(token) => {
                if let Some(entry) = self.entries.get_mut(&token) {
                    if entry
                        .drive(&self.counters, &mut self.sends, |_: &mut CallMediaState| {
                            panic!("injected by a test")
                        })
                        .is_err()
                    {
                        self.fail(token);
                    }
                }
            }
            Command::Detach(token) => {
                if let Some(entry) = self.entries.remove(&token) {
                    self.epoll.remove(entry.socket.as_raw_fd());
                    self.epoll.remove(entry.rtcp_socket.as_raw_fd());
                }
            }
            Command::Stop => return false,
        }
        true
    }

    fn after_change(&mut self, token: u64, now: Instant) {
        let Some(entry) = self.entries.get_mut(&token) else {
            return;
        };
        match entry.drive(&self.counters, &mut self.sends, |_| {}) {
            Ok(next) => schedule(&mut self.timers, entry, token, next, now),
            Err(()) => self.fail(token),
        }
    }

    /// Carries out one of the call's changes with this wake-up's `now`.
    fn change(&mut self, token: u64, change: CallMediaCommand, now: Instant) {
        let Some(entry) = self.entries.get_mut(&token) else {
            return;
        };
        let driven = entry.drive(&self.counters, &mut self.sends, |state| {
            let command = match change {
                CallMediaCommand::Session(command) => command,
                CallMediaCommand::RemoteMoved { rtp, rtcp } => {
                    if !rtp.ip().is_unspecified() {
                        state.remote_sdp = rtp;
                        state.rtcp = rtcp;
                    }
                    media::MediaCommand::RemoteMoved(rtp)
                }
            };
            if let Err(e) = state.session.apply(now, command) {
                tracing::error!(error = %e, "the renegotiated media could not be set up; keeping the previous formats");
            }
        });
        match driven {
            Ok(next) => schedule(&mut self.timers, entry, token, next, now),
            Err(()) => self.fail(token),
        }
    }

    /// Ends one call's media after a panic in it (a bug): the call is told,
    /// the thread and every other call go on.
    fn fail(&mut self, token: u64) {
        if let Some(entry) = self.entries.remove(&token) {
            tracing::error!(
                "a call's media session panicked (message above); that call's media is let go"
            );
            self.epoll.remove(entry.socket.as_raw_fd());
            self.epoll.remove(entry.rtcp_socket.as_raw_fd());
            self.counters.failed_calls.fetch_add(1, Ordering::Relaxed);
            entry.cell.failed.store(true, Ordering::SeqCst);
            entry.cell.events.notify_one();
        }
    }

    /// Reads the ready sockets and hands each call what arrived.
    fn receive_ready(&mut self, ready: &[u64], now: Instant) {
        if ready.contains(&WAKE_TOKEN) {
            self.inbox.wake.clear();
        }
        if self.recv_ring.is_none() {
            for &token in ready {
                if token != WAKE_TOKEN {
                    self.receive(token, now);
                }
            }
            return;
        }
        let mut failed = Vec::new();
        for chunk in ready.chunks(SLOTS) {
            let Reactor {
                entries,
                timers,
                sends,
                counters,
                recv_ring,
                ring_tokens,
                ring_fds,
                ..
            } = self;
            let Some(ring) = recv_ring.as_mut() else {
                break;
            };
            ring_tokens.clear();
            ring_fds.clear();
            for &token in chunk {
                if let Some(entry) = entries.get(&(token & !RTCP_TOKEN)) {
                    let socket = if token & RTCP_TOKEN != 0 {
                        &entry.rtcp_socket
                    } else {
                        &entry.socket
                    };
                    ring_tokens.push(token);
                    ring_fds.push(socket.as_raw_fd());
                }
            }
            if let Err(e) = ring.read(ring_fds) {
                tracing::error!(error = %e, "io_uring reads failed; the media thread reads each socket with recvmmsg() from now on");
                // Entries the kernel may still hold point into the ring's
                // buffers: both are leaked rather than freed under it.
                std::mem::forget(recv_ring.take());
                counters
                    .io_uring_receive_threads
                    .fetch_sub(1, Ordering::Relaxed);
                break;
            }
            for (i, &token) in ring_tokens.iter().enumerate() {
                match ring.datagram(i) {
                    Ok(Some(datagram)) => {
                        let call = token & !RTCP_TOKEN;
                        if let Some(entry) = entries.get_mut(&call) {
                            let rtcp = token & RTCP_TOKEN != 0;
                            let mut delivery = Delivery {
                                timers,
                                sends,
                                counters,
                                now,
                            };
                            if !delivery.deliver(entry, call, rtcp, [datagram]) {
                                failed.push(call);
                            }
                        }
                    }
                    Ok(None) => {}
                    Err(e) => {
                        counters.receive_errors.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(error = %e, "RTP receive error");
                    }
                }
            }
        }
        for token in failed {
            self.fail(token);
        }
    }

    /// Reads one socket with `recvmmsg`.
    fn receive(&mut self, token: u64, now: Instant) {
        let rtcp = token & RTCP_TOKEN != 0;
        let token = token & !RTCP_TOKEN;
        let Some(entry) = self.entries.get_mut(&token) else {
            return;
        };
        let socket = if rtcp {
            &entry.rtcp_socket
        } else {
            &entry.socket
        };
        match self.batch.recv(socket) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) => {
                self.counters.receive_errors.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(error = %e, "RTP receive error");
                return;
            }
        }
        let delivered = Delivery {
            timers: &mut self.timers,
            sends: &mut self.sends,
            counters: &self.counters,
            now,
        }
        .deliver(entry, token, rtcp, self.batch.datagrams());
        if !delivered {
            self.fail(token);
        }
    }

    fn run_timers(&mut self, now: Instant) {
        let mut wallclock = None;
        while let Some(&Reverse((at, token))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            let Some(entry) = self.entries.get_mut(&token) else {
                continue;
            };
            if entry.scheduled != Some(at) {
                continue;
            }
            entry.scheduled = None;
            let wallclock = *wallclock.get_or_insert_with(SystemTime::now);
            match entry.drive(&self.counters, &mut self.sends, |state| {
                state.session.handle_timeout(now, wallclock)
            }) {
                // A deadline still not after `now` waits for the next wake-up
                // rather than spinning here.
                Ok(next) => schedule(
                    &mut self.timers,
                    entry,
                    token,
                    next,
                    now + Duration::from_micros(1),
                ),
                Err(()) => self.fail(token),
            }
        }
    }
}

impl Entry {
    /// Runs `work` on the session, then sends what it queued; returns the
    /// session's next deadline, or Err if the session panicked.
    fn drive(
        &self,
        counters: &MediaCounters,
        sends: &mut SendQueue,
        work: impl FnOnce(&mut CallMediaState),
    ) -> Result<Option<Instant>, ()> {
        std::panic::catch_unwind(AssertUnwindSafe(|| {
            let mut state = self.cell.lock();
            work(&mut state);
            flush(self, state, counters, sends)
        }))
        .map_err(|_| ())
    }
}

/// Sends what the session queued, wakes the call if it has events, and
/// returns the session's next deadline.
fn flush(
    entry: &Entry,
    mut state: std::sync::MutexGuard<'_, CallMediaState>,
    counters: &MediaCounters,
    sends: &mut SendQueue,
) -> Option<Instant> {
    let socket = &entry.socket;
    let strict = state.session.strict_remote();
    if strict != state.connected {
        // Packets queued for the old association leave under it.
        sends.submit(counters);
        let changed = match strict {
            Some(remote) => socket.connect(remote),
            None => super::poller::disconnect(socket),
        };
        if let Err(e) = &changed {
            // Still filtered by the session; only the kernel's help is lost.
            // Not tried again at every flush.
            tracing::debug!(error = %e, "could not (dis)connect the RTP socket");
        }
        state.connected = strict;
        state.send_connected = strict.is_some() && changed.is_ok();
    }
    let to = state.session.remote().unwrap_or(state.remote_sdp);
    let connected_to = state.connected.filter(|_| state.send_connected);
    // From the RTP socket: to the connected caller through the send queue,
    // elsewhere at once.
    let mut send = |bytes: Bytes, destination: SocketAddr| {
        if connected_to == Some(destination) {
            sends.send_connected(socket, bytes, counters);
        } else if socket.send_to(&bytes, destination).is_err() {
            counters.send_errors.fetch_add(1, Ordering::Relaxed);
        }
    };
    while let Some(t) = state.session.poll_transmit() {
        match t {
            Transmit::Rtp(bytes) => send(bytes, to),
            Transmit::To(destination, bytes) => send(bytes.into(), destination),
            Transmit::Rtcp(bytes) => match state.rtcp.destination(to) {
                (rtcp_to, true) => send(bytes.into(), rtcp_to),
                (rtcp_to, false) => {
                    if entry.rtcp_socket.send_to(&bytes, rtcp_to).is_err() {
                        counters.send_errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            },
        }
    }
    let has_events = state.session.has_events();
    let next = state.session.poll_timeout();
    drop(state);
    if has_events {
        entry.cell.events.notify_one();
    }
    next
}

/// What handing datagrams to a session needs of the thread besides the
/// session's entry: its timers, its send queue, its counters and its `now`.
struct Delivery<'r> {
    timers: &'r mut BinaryHeap<Reverse<(Instant, u64)>>,
    sends: &'r mut SendQueue,
    counters: &'r MediaCounters,
    now: Instant,
}

impl Delivery<'_> {
    /// Hands one socket's datagrams to its call's session and sends what
    /// that queued; false if the session panicked.
    fn deliver<'a>(
        &mut self,
        entry: &mut Entry,
        token: u64,
        rtcp: bool,
        datagrams: impl IntoIterator<Item = (SocketAddr, &'a [u8])>,
    ) -> bool {
        let now = self.now;
        let driven = entry.drive(self.counters, self.sends, |state| {
            let session = &mut state.session;
            for (from, datagram) in datagrams {
                if rtcp {
                    session.handle_rtcp(now, datagram);
                } else {
                    session.handle_rtp(now, from, datagram);
                }
            }
        });
        match driven {
            Ok(next) => {
                schedule(self.timers, entry, token, next, now);
                true
            }
            Err(()) => false,
        }
    }
}

/// Keeps one live heap entry per session, at its earliest deadline.
fn schedule(
    timers: &mut BinaryHeap<Reverse<(Instant, u64)>>,
    entry: &mut Entry,
    token: u64,
    next: Option<Instant>,
    not_before: Instant,
) {
    let Some(next) = next else { return };
    let next = next.max(not_before);
    if entry.scheduled.is_none_or(|s| next < s) {
        entry.scheduled = Some(next);
        timers.push(Reverse((next, token)));
    }
}
