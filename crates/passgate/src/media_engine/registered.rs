//! Call sockets registered with a media thread's io_uring instances.
//!
//! An io_uring entry naming a plain descriptor makes the kernel look the
//! descriptor up and take a reference on its file for that one read or send,
//! and drop it after: two atomic operations on a line of memory that, with
//! hundreds of calls in turn, is rarely still in the cache. A registered
//! socket is named by its slot in a table the ring already holds, with its
//! reference taken once, when it is registered.
//!
//! Rules:
//! - a call takes a pair of slots (RTP, RTCP), registered in every ring of
//!   the thread with one update each, or none: its sockets are then named
//!   by descriptor, as without registration;
//! - the registration holds the socket open, so a call's slots are cleared
//!   when it leaves the thread, after every entry naming them has completed
//!   (the send queue is submitted first), and only then reused.

use std::io;
use std::os::fd::RawFd;

use io_uring::{squeue, types, IoUring};

/// How an io_uring entry names a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RingFd {
    /// Its slot in the rings' registered files.
    Registered(u32),
    /// Its descriptor.
    Plain(RawFd),
}

impl RingFd {
    /// Builds an entry with the socket named as it is: `build` is given the
    /// io_uring crate's fixed or plain descriptor type.
    pub(super) fn entry(
        self,
        registered: impl FnOnce(types::Fixed) -> squeue::Entry,
        plain: impl FnOnce(types::Fd) -> squeue::Entry,
    ) -> squeue::Entry {
        match self {
            RingFd::Registered(slot) => registered(types::Fixed(slot)),
            RingFd::Plain(fd) => plain(types::Fd(fd)),
        }
    }
}

/// Slots a media thread's rings hold: a pair per call, so this carries
/// 4,096 calls a thread registered; more are named by descriptor.
pub(super) const SLOTS: u32 = 8192;

/// Makes `ring`'s table of `slots` registered files, all empty.
pub(super) fn make_table(ring: &IoUring, slots: u32) -> io::Result<()> {
    ring.submitter().register_files_sparse(slots)
}

/// Puts `fds` in `ring`'s table from `slot` on (-1 empties a slot).
pub(super) fn update(ring: &IoUring, slot: u32, fds: &[RawFd]) -> io::Result<()> {
    let updated = ring.submitter().register_files_update(slot, fds)?;
    if updated != fds.len() {
        return Err(io::Error::other(format!(
            "io_uring registered {updated} of {} files",
            fds.len()
        )));
    }
    Ok(())
}

/// Which slot pairs are free.
pub(super) struct SlotPairs {
    free: Vec<u32>,
    /// Pairs never handed out start here.
    next: u32,
    slots: u32,
}

impl SlotPairs {
    pub(super) fn new(slots: u32) -> SlotPairs {
        SlotPairs {
            free: Vec::new(),
            next: 0,
            slots,
        }
    }

    /// The first slot of a free pair, if any is left.
    pub(super) fn take(&mut self) -> Option<u32> {
        if let Some(slot) = self.free.pop() {
            return Some(slot);
        }
        if self.next + 2 > self.slots {
            return None;
        }
        let slot = self.next;
        self.next += 2;
        Some(slot)
    }

    /// Hands back a pair whose slots are cleared in every ring.
    pub(super) fn give_back(&mut self, slot: u32) {
        self.free.push(slot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_handed_out_once_until_given_back_and_run_out() {
        let mut pairs = SlotPairs::new(6);
        assert_eq!(
            [pairs.take(), pairs.take(), pairs.take(), pairs.take()],
            [Some(0), Some(2), Some(4), None]
        );
        pairs.give_back(2);
        assert_eq!([pairs.take(), pairs.take()], [Some(2), None]);
    }
}
