//! Carries every call's RTP on a few dedicated threads.
//!
//! A media thread wakes on a 1 ms grid (at most every 2 ms while it has
//! calls), takes what arrived on all its sockets, hands it to each call's
//! [`MediaSession`] and sends whatever is due. A call's packets therefore cost
//! their kernel and codec work, not a task wake-up, a timer and a `select!`
//! each. With io_uring (`rtp.io_uring`) they do not cost a system call each
//! either: the kernel reads every socket as datagrams arrive and a wake-up
//! collects them all ([`armed_reads`]), and one submission sends its due
//! packets ([`send_queue`]).
//!
//! The call task keeps the flow. It changes its media only by named
//! commands ([`CallMediaCommand`], sent through [`CallMedia::apply`]), which
//! the media thread carries out at its next wake-up with that wake-up's
//! `now`: each session has one driver and one clock, so its time only moves
//! forward. The call task is woken only when the session has events for it
//! (keys, prompt ends, frames while listening). The session itself stays
//! sans-IO: the threads only move bytes and pass the time in.

mod armed_reads;
mod poller;
mod reactor;
mod send_queue;
mod uring;

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use media::{MediaCommand, MediaSession, SessionEvent, SessionStats};
use tokio::sync::Notify;

use poller::EventFd;

/// A change to a call's media, carried out by its media thread.
#[derive(Debug, Clone)]
pub enum CallMediaCommand {
    /// A change to the session itself (play, stop, barge-in, listen, hold,
    /// renegotiated formats).
    Session(MediaCommand),
    /// The SDP moved the caller's media (a re-INVITE): RTP goes to `rtp`
    /// until the caller's packets show their source, which the session
    /// learns again by its own rule (`MediaCommand::RemoteMoved`), and RTCP
    /// goes by `rtcp`. An unspecified address (a hold, RFC 3264 §8.4)
    /// moves nothing.
    RemoteMoved { rtp: SocketAddr, rtcp: RtcpRoute },
}

/// What a call and its media thread share. Only the media thread changes it.
struct CallMediaState {
    session: MediaSession,
    /// Where the SDP says to send until the caller's packets show where they
    /// come from (symmetric RTP); a re-INVITE may move it.
    remote_sdp: SocketAddr,
    /// Where our RTCP goes, from which of the call's sockets.
    rtcp: RtcpRoute,
    /// Where the socket was last connected (a failure is not retried): the
    /// session's strict source once learnt. The kernel then drops other
    /// sources' packets unread.
    connected: Option<SocketAddr>,
    /// The kernel holds that association, so a packet to it is sent without
    /// an address and skips the route lookup a `sendto` costs each time.
    send_connected: bool,
}

/// Where a call's RTCP goes (RFC 3550 §11, RFC 3605, RFC 5761).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtcpRoute {
    /// Multiplexed: from our RTP port to wherever RTP goes, and read from
    /// the RTP port by its packet type.
    Muxed,
    /// From our RTCP port to the port (and address) of the caller's `a=rtcp`.
    To(SocketAddr),
    /// From our RTCP port to the port above the caller's RTP: the RTP
    /// source once learnt (symmetric RTP), else the SDP's.
    NextToRtp,
}

impl RtcpRoute {
    /// The route offer/answer settled on.
    pub fn negotiated(neg: &sip::Negotiated) -> RtcpRoute {
        let rtp = neg.remote_rtp;
        if neg.rtcp_mux {
            RtcpRoute::Muxed
        } else if neg.remote_rtcp == SocketAddr::new(rtp.ip(), rtp.port().wrapping_add(1)) {
            RtcpRoute::NextToRtp
        } else {
            RtcpRoute::To(neg.remote_rtcp)
        }
    }

    /// Where a report goes when RTP goes to `rtp_to`, and whether it leaves
    /// from the RTP socket (multiplexed) rather than the RTCP one.
    pub fn destination(self, rtp_to: SocketAddr) -> (SocketAddr, bool) {
        match self {
            RtcpRoute::Muxed => (rtp_to, true),
            RtcpRoute::To(addr) => (addr, false),
            RtcpRoute::NextToRtp => (
                SocketAddr::new(rtp_to.ip(), rtp_to.port().wrapping_add(1)),
                false,
            ),
        }
    }
}

struct Cell {
    state: Mutex<CallMediaState>,
    /// Signalled by the media thread when the session has events.
    events: Notify,
    /// The session panicked (a bug); the media thread has let it go.
    failed: AtomicBool,
}

impl Cell {
    fn lock(&self) -> MutexGuard<'_, CallMediaState> {
        // A panic elsewhere while holding it leaves a session still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

enum Command {
    Attach {
        token: u64,
        socket: UdpSocket,
        rtcp_socket: UdpSocket,
        cell: Arc<Cell>,
    },
    /// A change to a call's media: applied at the thread's `now`, then what
    /// it queued is sent and its timer looked at again.
    Change(u64, CallMediaCommand),
    Detach(u64),
    Stop,
    /// Makes the session panic, to show one call's bug stays its own.
    #[cfg(test)]
    Panic(u64),
}

/// Counts kept by the media threads, for metrics.
#[derive(Default)]
pub struct MediaCounters {
    pub send_errors: AtomicU64,
    pub receive_errors: AtomicU64,
    /// Calls whose media panicked and were let go.
    pub failed_calls: AtomicU64,
    /// Media threads sending through io_uring (`rtp.io_uring`, where the
    /// kernel allows it).
    pub io_uring_send_threads: AtomicU64,
    /// Media threads reading through io_uring.
    pub io_uring_receive_threads: AtomicU64,
}

struct Inbox {
    commands: Mutex<Vec<Command>>,
    wake: EventFd,
    /// The thread has no calls and waits on `wake`.
    idle: AtomicBool,
}

impl Inbox {
    fn send(&self, command: Command) {
        self.commands
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(command);
        // A thread carrying calls looks at its inbox every tick anyway.
        if self.idle.load(Ordering::SeqCst) {
            self.wake.signal();
        }
    }

    fn take(&self, into: &mut Vec<Command>) {
        let mut commands = self.commands.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::swap(&mut *commands, into);
    }
}

pub struct MediaEngine {
    threads: Vec<Arc<Inbox>>,
    next_thread: AtomicUsize,
    next_token: AtomicU64,
}

impl MediaEngine {
    /// `realtime_priority` 0 leaves the threads at the normal priority;
    /// `io_uring` sends each wake-up's packets in one submission where the
    /// kernel allows it.
    pub fn start(
        threads: usize,
        realtime_priority: u8,
        io_uring: bool,
        counters: Arc<MediaCounters>,
    ) -> io::Result<MediaEngine> {
        crate::panic_hook::install();
        let mut inboxes = Vec::new();
        for i in 0..threads.max(1) {
            let inbox = Arc::new(Inbox {
                commands: Mutex::new(Vec::new()),
                wake: EventFd::new()?,
                idle: AtomicBool::new(false),
            });
            // The reactor is made on its own thread: its io_uring reads may
            // be used only by the thread that set them up.
            let (started, start) = std::sync::mpsc::channel();
            let (thread_inbox, thread_counters) = (inbox.clone(), counters.clone());
            std::thread::Builder::new()
                .name(crate::panic_hook::media_thread_name(i))
                .spawn(move || {
                    let mut reactor = match reactor::Reactor::new(thread_inbox, thread_counters, io_uring) {
                        Ok(reactor) => reactor,
                        Err(e) => {
                            let _ = started.send(Err(e));
                            return;
                        }
                    };
                    let _ = started.send(Ok(()));
                    if realtime_priority > 0 {
                        match poller::set_realtime_priority(realtime_priority) {
                            Ok(()) => tracing::debug!(realtime_priority, "media thread at real-time priority"),
                            Err(e) => tracing::warn!(error = %e, realtime_priority, "media thread left at normal priority (rtp.realtime_priority needs root, CAP_SYS_NICE or RLIMIT_RTPRIO)"),
                        }
                    }
                    reactor.run()
                })?;
            start
                .recv()
                .map_err(|_| io::Error::other("a media thread stopped while starting"))??;
            inboxes.push(inbox);
        }
        Ok(MediaEngine {
            threads: inboxes,
            next_thread: AtomicUsize::new(0),
            // 0 is the threads' own wake-up descriptor.
            next_token: AtomicU64::new(1),
        })
    }

    /// Hands the call's RTP and RTCP sockets and its session to a media thread.
    pub fn attach(
        &self,
        socket: UdpSocket,
        rtcp_socket: UdpSocket,
        session: MediaSession,
        remote_sdp: SocketAddr,
        rtcp: RtcpRoute,
    ) -> io::Result<CallMedia> {
        socket.set_nonblocking(true)?;
        rtcp_socket.set_nonblocking(true)?;
        let token = self.next_token.fetch_add(1, Ordering::Relaxed);
        let inbox = self.threads
            [self.next_thread.fetch_add(1, Ordering::Relaxed) % self.threads.len()]
        .clone();
        let cell = Arc::new(Cell {
            state: Mutex::new(CallMediaState {
                session,
                remote_sdp,
                rtcp,
                connected: None,
                send_connected: false,
            }),
            events: Notify::new(),
            failed: AtomicBool::new(false),
        });
        inbox.send(Command::Attach {
            token,
            socket,
            rtcp_socket,
            cell: cell.clone(),
        });
        Ok(CallMedia { cell, inbox, token })
    }
}

impl Drop for MediaEngine {
    fn drop(&mut self) {
        for inbox in &self.threads {
            inbox.send(Command::Stop);
            inbox.wake.signal();
        }
    }
}

/// The call task's side of its media. Dropping it closes the RTP and RTCP sockets.
pub struct CallMedia {
    cell: Arc<Cell>,
    inbox: Arc<Inbox>,
    token: u64,
}

impl CallMedia {
    /// Hands a change to the media thread, which carries it out at its next
    /// wake-up (within a tick while it carries calls), in the order sent.
    pub fn apply(&self, command: CallMediaCommand) {
        self.inbox.send(Command::Change(self.token, command));
    }

    /// The session's counts so far (loss, jitter, packets) for the call's record.
    pub fn stats(&self) -> SessionStats {
        self.cell.lock().session.stats()
    }

    /// Where the RTP socket is connected, if anywhere.
    #[cfg(test)]
    fn connected(&self) -> Option<SocketAddr> {
        self.cell.lock().connected
    }

    /// Moves the session's events out, in order.
    pub fn take_events(&self, into: &mut Vec<SessionEvent>) {
        let mut state = self.cell.lock();
        while let Some(ev) = state.session.poll_event() {
            into.push(ev);
        }
    }

    /// Resolves once the session may have events (spuriously at times).
    pub async fn events(&self) {
        self.cell.events.notified().await
    }

    /// The media thread let this call's session go after a panic in it.
    pub fn failed(&self) -> bool {
        self.cell.failed.load(Ordering::SeqCst)
    }

    #[cfg(test)]
    fn inject_panic(&self) {
        self.inbox.send(Command::Panic(self.token));
    }
}

impl Drop for CallMedia {
    fn drop(&mut self) {
        self.inbox.send(Command::Detach(self.token));
    }
}

#[cfg(test)]
mod tests;
