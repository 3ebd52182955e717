//! Sends a media thread's RTP to connected callers in batches: the packets
//! one wake-up makes go to the kernel in one io_uring submission rather than
//! one `send` system call each. The kernel's work per datagram stays; the
//! system call's entry and exit per packet go.
//!
//! Where io_uring cannot be set up (an old kernel, a container whose seccomp
//! profile forbids it, `rtp.io_uring = false`) each packet is sent at once
//! with `send`, as it would be without this queue.
//!
//! Rules that keep a deferred packet where it was meant to go:
//! - only datagrams to the socket's connected peer wait here (no address to
//!   keep alive); the others are sent at once by the caller;
//! - a queued packet holds its socket, so closing a call cannot hand its
//!   descriptor number to another socket before the packet leaves;
//! - the owner submits before it connects or disconnects a socket, so a
//!   packet never leaves for an association made after it was queued.

use std::io;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use io_uring::{opcode, types, IoUring};

use super::MediaCounters;

/// Submission queue entries: more packets than this in one wake-up are
/// submitted in several rounds.
const RING_ENTRIES: u32 = 256;

/// A packet waiting for the submission, with the socket it leaves from.
type Queued = (Arc<UdpSocket>, Bytes);

pub(super) struct SendQueue {
    ring: Option<IoUring>,
    pending: Vec<Queued>,
}

impl SendQueue {
    /// Batches through io_uring when `batch` is set and the kernel allows it.
    pub(super) fn new(batch: bool) -> SendQueue {
        let ring = if batch {
            match IoUring::new(RING_ENTRIES) {
                Ok(ring) => Some(ring),
                Err(e) => {
                    tracing::warn!(error = %e, "io_uring is unavailable; the media thread sends each packet with send() (rtp.io_uring = false silences this)");
                    None
                }
            }
        } else {
            None
        };
        SendQueue {
            ring,
            pending: Vec::with_capacity(RING_ENTRIES as usize),
        }
    }

    /// Whether packets go out in batches.
    pub(super) fn batches(&self) -> bool {
        self.ring.is_some()
    }

    /// Sends `bytes` to the peer `socket` is connected to: now, or at the
    /// next [`SendQueue::submit`].
    pub(super) fn send_connected(
        &mut self,
        socket: &Arc<UdpSocket>,
        bytes: Bytes,
        counters: &MediaCounters,
    ) {
        if self.ring.is_none() {
            if socket.send(&bytes).is_err() {
                counters.send_errors.fetch_add(1, Ordering::Relaxed);
            }
            return;
        }
        self.pending.push((socket.clone(), bytes));
        if self.pending.len() >= RING_ENTRIES as usize {
            self.submit(counters);
        }
    }

    /// Hands every queued packet to the kernel and waits until each has
    /// been sent or refused (each asks not to wait, MSG_DONTWAIT, so it
    /// completes inside the submission and the wait is the submission's own
    /// time).
    pub(super) fn submit(&mut self, counters: &MediaCounters) {
        if self.pending.is_empty() {
            return;
        }
        let Some(ring) = self.ring.as_mut() else {
            return;
        };
        let refused = match submit_all(ring, &self.pending) {
            Ok(refused) => {
                self.pending.clear();
                refused
            }
            Err(e) => {
                tracing::error!(error = %e, "io_uring submission failed; the media thread sends each packet with send() from now on");
                // Entries the kernel may still hold point into `pending`:
                // the ring and those buffers are leaked rather than freed
                // under it. Their packets count as not sent.
                let pending = std::mem::take(&mut self.pending);
                let refused = pending.len();
                std::mem::forget((self.ring.take(), pending));
                counters
                    .io_uring_send_threads
                    .fetch_sub(1, Ordering::Relaxed);
                refused
            }
        };
        if refused > 0 {
            counters
                .send_errors
                .fetch_add(refused as u64, Ordering::Relaxed);
        }
    }
}

/// Submits every packet and waits for all of them; returns how many sends
/// the kernel refused. `pending` is never longer than the queue, which is
/// empty between calls.
fn submit_all(ring: &mut IoUring, pending: &[Queued]) -> io::Result<usize> {
    {
        let mut sq = ring.submission();
        for (socket, bytes) in pending {
            // MSG_DONTWAIT: a full send buffer answers EAGAIN at once (the
            // packet is lost, as with send()); without it io_uring waits
            // for room and the media thread with it.
            let entry = opcode::Send::new(
                types::Fd(socket.as_raw_fd()),
                bytes.as_ptr(),
                bytes.len() as u32,
            )
            .flags(libc::MSG_DONTWAIT)
            .build();
            // SAFETY: the buffer and the socket stay alive in `pending` until
            // every entry has completed, or, after a failure, for good (they
            // are leaked with the ring).
            unsafe { sq.push(&entry) }
                .map_err(|_| io::Error::other("io_uring submission queue full"))?;
        }
    }
    let mut refused = 0;
    super::uring::complete(ring, pending.len(), |completion| {
        if completion.result() < 0 {
            refused += 1;
        }
    })?;
    Ok(refused)
}
