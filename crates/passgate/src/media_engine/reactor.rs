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

use super::armed_reads::{self, ArmedReads, Read};
use super::poller::{Epoll, RecvBatch};
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
    /// Its sockets are watched by epoll and read with `recvmmsg`, not
    /// read by armed io_uring reads.
    polled: bool,
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
    /// Reads every call's sockets as datagrams arrive, where io_uring
    /// allows it; else they are watched by epoll and read with `recvmmsg`.
    armed: Option<ArmedReads>,
    /// Sockets watched by epoll besides the wake-up's: none means a
    /// wake-up need not ask epoll.
    polled_sockets: usize,
    /// Tokens whose armed read ended in the last collection, kept to reuse.
    ended: Vec<u64>,
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
        let armed = if io_uring {
            match ArmedReads::new(armed_reads::BUFFERS) {
                Ok(reads) => Some(reads),
                Err(e) => {
                    tracing::warn!(error = %e, "io_uring multishot reads are unavailable (Linux 6.1 or later); the media thread reads with recvmmsg()");
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
        if armed.is_some() {
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
            armed,
            polled_sockets: 0,
            ended: Vec::new(),
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
                if self.polled_sockets > 0 {
                    self.epoll.wait(0, &mut ready)
                } else {
                    ready.clear();
                    Ok(())
                }
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
                let polled = !self.arm(token, &socket, &rtcp_socket);
                if polled {
                    self.poll(token, &socket, &rtcp_socket);
                }
                self.entries.insert(
                    token,
                    Entry {
                        socket: Arc::new(socket),
                        rtcp_socket,
                        cell,
                        scheduled: None,
                        polled,
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
                    self.stop_reading(token, &entry);
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
            self.stop_reading(token, &entry);
            self.counters.failed_calls.fetch_add(1, Ordering::Relaxed);
            entry.cell.failed.store(true, Ordering::SeqCst);
            entry.cell.events.notify_one();
        }
    }

    /// Starts the armed reads of a call's sockets; false if they are
    /// unavailable, and the sockets are to be polled instead.
    fn arm(&mut self, token: u64, socket: &UdpSocket, rtcp_socket: &UdpSocket) -> bool {
        let Some(reads) = self.armed.as_mut() else {
            return false;
        };
        let armed = reads
            .arm(token, socket.as_raw_fd())
            .and_then(|()| reads.arm(token | RTCP_TOKEN, rtcp_socket.as_raw_fd()));
        match armed {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(error = %e, "io_uring reads failed; the media thread polls and reads each socket with recvmmsg() from now on");
                self.abandon_armed_reads();
                false
            }
        }
    }

    /// Watches a call's sockets with epoll, to be read with `recvmmsg`.
    fn poll(&mut self, token: u64, socket: &UdpSocket, rtcp_socket: &UdpSocket) {
        match self.epoll.add(socket.as_raw_fd(), token) {
            Ok(()) => self.polled_sockets += 1,
            Err(e) => {
                tracing::error!(error = %e, "cannot watch an RTP socket; the call will hear nothing")
            }
        }
        match self.epoll.add(rtcp_socket.as_raw_fd(), token | RTCP_TOKEN) {
            Ok(()) => self.polled_sockets += 1,
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch an RTCP socket; the caller's reports go unread")
            }
        }
    }

    /// Stops reading a call's sockets, before they are closed.
    fn stop_reading(&mut self, token: u64, entry: &Entry) {
        if entry.polled {
            for socket in [entry.socket.as_raw_fd(), entry.rtcp_socket.as_raw_fd()] {
                self.epoll.remove(socket);
            }
            self.polled_sockets = self.polled_sockets.saturating_sub(2);
            return;
        }
        let Some(reads) = self.armed.as_mut() else {
            return;
        };
        let cancelled = reads
            .disarm(token)
            .and_then(|()| reads.disarm(token | RTCP_TOKEN));
        if let Err(e) = cancelled {
            tracing::error!(error = %e, "io_uring reads failed; the media thread polls and reads each socket with recvmmsg() from now on");
            self.abandon_armed_reads();
        }
    }

    /// Moves every call from the armed reads, which failed, to epoll and
    /// `recvmmsg`.
    fn abandon_armed_reads(&mut self) {
        // Reads the kernel may still hold point into the ring's buffers and
        // hold its sockets: both are leaked rather than freed under it.
        if let Some(reads) = self.armed.take() {
            std::mem::forget(reads);
            self.counters
                .io_uring_receive_threads
                .fetch_sub(1, Ordering::Relaxed);
        }
        let moved: Vec<(u64, RawFd, RawFd)> = self
            .entries
            .iter_mut()
            .filter(|(_, entry)| !entry.polled)
            .map(|(&token, entry)| {
                entry.polled = true;
                (
                    token,
                    entry.socket.as_raw_fd(),
                    entry.rtcp_socket.as_raw_fd(),
                )
            })
            .collect();
        for (token, rtp, rtcp) in moved {
            for (fd, token) in [(rtp, token), (rtcp, token | RTCP_TOKEN)] {
                match self.epoll.add(fd, token) {
                    Ok(()) => self.polled_sockets += 1,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot watch a media socket; the call will hear nothing on it")
                    }
                }
            }
        }
    }

    /// Reads what arrived and hands each call its datagrams: the polled
    /// sockets epoll reported `ready`, then everything the armed reads took.
    fn receive_ready(&mut self, ready: &[u64], now: Instant) {
        for &token in ready {
            if token == WAKE_TOKEN {
                self.inbox.wake.clear();
            } else {
                self.receive(token, now);
            }
        }
        let Reactor {
            entries,
            timers,
            sends,
            counters,
            armed,
            ended,
            ..
        } = self;
        let Some(reads) = armed.as_mut() else {
            return;
        };
        let mut failed = Vec::new();
        let collected = reads.collect(|token, read| {
            let call = token & !RTCP_TOKEN;
            match read {
                Read::Datagram(from, datagram) => {
                    if let Some(entry) = entries.get_mut(&call) {
                        let mut delivery = Delivery {
                            timers,
                            sends,
                            counters,
                            now,
                        };
                        let rtcp = token & RTCP_TOKEN != 0;
                        if !delivery.deliver(entry, call, rtcp, [(from, datagram)]) {
                            failed.push(call);
                        }
                    }
                }
                Read::Failed(e) => {
                    counters.receive_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(error = %e, "RTP receive error");
                }
                Read::Ended => ended.push(token),
            }
        });
        if let Err(e) = collected {
            tracing::error!(error = %e, "io_uring reads failed; the media thread polls and reads each socket with recvmmsg() from now on");
            self.abandon_armed_reads();
        }
        for token in failed {
            self.fail(token);
        }
        self.rearm_ended();
    }

    /// Arms again the reads the kernel ended whose sockets are still open.
    fn rearm_ended(&mut self) {
        let mut ended = std::mem::take(&mut self.ended);
        for token in ended.drain(..) {
            let Some(entry) = self.entries.get(&(token & !RTCP_TOKEN)) else {
                continue;
            };
            if entry.polled {
                continue;
            }
            let fd = if token & RTCP_TOKEN != 0 {
                entry.rtcp_socket.as_raw_fd()
            } else {
                entry.socket.as_raw_fd()
            };
            let Some(reads) = self.armed.as_mut() else {
                break;
            };
            if let Err(e) = reads.arm(token, fd) {
                tracing::error!(error = %e, "io_uring reads failed; the media thread polls and reads each socket with recvmmsg() from now on");
                self.abandon_armed_reads();
                break;
            }
        }
        self.ended = ended;
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
