//! Reads a wake-up's ready sockets in one io_uring submission: one `recvmsg`
//! per socket rather than one `recvmmsg` system call each. The kernel's work
//! per datagram stays; the system call's entry and exit per socket go.
//!
//! A socket holding more than one datagram gives one per wake-up: epoll is
//! level-triggered, so it is ready again at the next, at most
//! `MAX_RECEIVE_WAIT` later. A socket is thus read at up to about a thousand
//! datagrams a second, twenty times a call's rate; once a call's source is
//! learnt its socket is connected, and the kernel drops anyone else's
//! datagrams before they reach it.
//!
//! Every read completes (or fails with EAGAIN) inside the submission, as
//! each asks not to wait (MSG_DONTWAIT), so no entry outlives
//! [`RecvRing::read`] and the sockets need only be open for its length.

use std::io;
use std::net::SocketAddr;
use std::os::fd::RawFd;

use io_uring::{opcode, types, IoUring};

use super::poller::{to_socket_addr, DATAGRAM};

/// Sockets read per submission; more ready than this take several.
pub(super) const SLOTS: usize = 256;

struct Slot {
    buf: [u8; DATAGRAM],
    addr: libc::sockaddr_storage,
    iov: libc::iovec,
    hdr: libc::msghdr,
    /// The read's result: bytes, or a negated errno.
    result: i32,
}

pub(super) struct RecvRing {
    ring: IoUring,
    slots: Box<[Slot]>,
    /// Slots the last read filled.
    len: usize,
}

// SAFETY: the raw pointers inside point only into the ring's own boxed slots
// and are rebuilt before each use.
unsafe impl Send for RecvRing {}

impl RecvRing {
    pub(super) fn new() -> io::Result<RecvRing> {
        let ring = IoUring::new(SLOTS as u32)?;
        let slots = (0..SLOTS)
            .map(|_| Slot {
                buf: [0; DATAGRAM],
                // SAFETY: all-zero is a valid value of these plain C structs;
                // the pointers are set before each read.
                addr: unsafe { std::mem::zeroed() },
                iov: unsafe { std::mem::zeroed() },
                hdr: unsafe { std::mem::zeroed() },
                result: 0,
            })
            .collect();
        Ok(RecvRing {
            ring,
            slots,
            len: 0,
        })
    }

    /// Reads one datagram from each of `sockets` (at most [`SLOTS`]), the
    /// i-th into slot i. An error means the ring can no longer be used;
    /// the slots then hold nothing.
    pub(super) fn read(&mut self, sockets: &[RawFd]) -> io::Result<()> {
        self.len = 0;
        let n = sockets.len().min(SLOTS);
        {
            let mut sq = self.ring.submission();
            for (i, (&fd, slot)) in sockets
                .iter()
                .zip(self.slots.iter_mut())
                .take(n)
                .enumerate()
            {
                slot.iov = libc::iovec {
                    iov_base: slot.buf.as_mut_ptr().cast(),
                    iov_len: DATAGRAM,
                };
                slot.hdr.msg_name = (&mut slot.addr as *mut libc::sockaddr_storage).cast();
                slot.hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as u32;
                slot.hdr.msg_iov = &mut slot.iov;
                slot.hdr.msg_iovlen = 1;
                slot.hdr.msg_control = std::ptr::null_mut();
                slot.hdr.msg_controllen = 0;
                slot.hdr.msg_flags = 0;
                slot.result = -libc::EAGAIN;
                // MSG_DONTWAIT: an empty socket answers EAGAIN at once;
                // without it io_uring waits for a datagram, whatever the
                // socket's O_NONBLOCK says.
                let entry = opcode::RecvMsg::new(types::Fd(fd), &mut slot.hdr)
                    .flags(libc::MSG_DONTWAIT as u32)
                    .build()
                    .user_data(i as u64);
                // SAFETY: the header, its address, iovec and buffer live in
                // the boxed slots, which are not touched again until every
                // entry has completed below (or the ring is dropped with
                // them). The queue holds SLOTS entries and is empty here.
                unsafe { sq.push(&entry) }
                    .map_err(|_| io::Error::other("io_uring submission queue full"))?;
            }
        }
        let slots = &mut self.slots;
        super::uring::complete(&mut self.ring, n, |completion| {
            if let Some(slot) = slots.get_mut(completion.user_data() as usize) {
                slot.result = completion.result();
            }
        })?;
        self.len = n;
        Ok(())
    }

    /// Slot i of the last read: its datagram and sender, none (nothing was
    /// waiting), or the socket's error.
    pub(super) fn datagram(&self, i: usize) -> io::Result<Option<(SocketAddr, &[u8])>> {
        let Some(slot) = self.slots[..self.len].get(i) else {
            return Ok(None);
        };
        if slot.result < 0 {
            return match -slot.result {
                libc::EAGAIN | libc::EINTR => Ok(None),
                errno => Err(io::Error::from_raw_os_error(errno)),
            };
        }
        let len = (slot.result as usize).min(DATAGRAM);
        Ok(to_socket_addr(&slot.addr).map(|from| (from, &slot.buf[..len])))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;

    #[test]
    fn one_submission_reads_a_datagram_from_each_socket_and_an_empty_one_reads_as_none() {
        let Ok(mut ring) = RecvRing::new() else {
            eprintln!("io_uring is not allowed here; the recvmmsg path is tested instead");
            return;
        };
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        let sockets: Vec<UdpSocket> = (0..3)
            .map(|_| {
                let s = UdpSocket::bind("127.0.0.1:0").unwrap();
                s.set_nonblocking(true).unwrap();
                s
            })
            .collect();
        sender
            .send_to(b"first", sockets[0].local_addr().unwrap())
            .unwrap();
        sender
            .send_to(b"second", sockets[0].local_addr().unwrap())
            .unwrap();
        sender
            .send_to(b"third", sockets[2].local_addr().unwrap())
            .unwrap();
        let fds: Vec<RawFd> = sockets.iter().map(|s| s.as_raw_fd()).collect();
        // Nothing waits on the middle socket: its read must end at once
        // with nothing, not wait for a datagram.
        ring.read(&fds).unwrap();
        let from = sender.local_addr().unwrap();
        assert_eq!(ring.datagram(0).unwrap(), Some((from, &b"first"[..])));
        assert_eq!(ring.datagram(1).unwrap(), None);
        assert_eq!(ring.datagram(2).unwrap(), Some((from, &b"third"[..])));
        // One per socket per read: the second datagram is the next read's.
        ring.read(&fds[..1]).unwrap();
        assert_eq!(ring.datagram(0).unwrap(), Some((from, &b"second"[..])));
        assert_eq!(ring.datagram(1).unwrap(), None, "only one socket was read");
    }
}
