//! Reads every socket of a media thread with one multishot `recvmsg`, armed
//! once when the call's media is attached: the kernel reads each datagram as
//! it arrives into a buffer of a ring it shares with this thread, and a
//! wake-up collects what arrived since the last one in one system call, or
//! none when nothing did. No readiness poll (epoll) and no read submission
//! per socket remain.
//!
//! Rules:
//! - The ring runs its deferred work only when this thread asks for
//!   completions (DEFER_TASKRUN): a datagram arriving while the thread sleeps
//!   to its next grid point does not wake it. The ring must therefore be made
//!   on the thread that uses it, and used by that thread only.
//! - A read is armed and cancelled by a submission made at once: an entry
//!   naming a descriptor never waits in the queue, where the descriptor could
//!   be closed and its number given to another socket before the kernel saw it.
//! - A read the kernel ends (out of buffers, a socket error such as an ICMP
//!   refusal on a connected socket, a full completion queue) is reported as
//!   [`Read::Ended`]; its owner arms it again if the socket is still wanted.
//!   Datagrams not yet read wait in the socket meanwhile.
//! - A buffer is handed back to the kernel once its datagram has been seen.

use std::io;
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::types::{BufRingEntry, RecvMsgOut};
use io_uring::{cqueue, opcode, types, IoUring};

use super::poller::{to_socket_addr, DATAGRAM};

/// The buffer group the reads take their buffers from.
const GROUP: u16 = 0;
/// A buffer holds the kernel's header, the sender's address and a datagram.
const BUFFER: usize = 2048;
/// Buffers a media thread lends the kernel: arrivals of many wake-ups of a
/// busy thread. Running out ends the reads that found none; they are armed
/// again at the next wake-up.
pub(super) const BUFFERS: u16 = 1024;
/// Completions held between wake-ups: every buffer's, with room for ends.
const COMPLETIONS: u32 = 4 * BUFFERS as u32;
/// Submissions: arms and cancels, each submitted at once.
const SUBMISSIONS: u32 = 64;
/// Marks the completion of a cancel, which carries nothing to report.
const CANCEL: u64 = 1 << 62;

/// What one armed read produced.
pub(super) enum Read<'a> {
    Datagram(SocketAddr, &'a [u8]),
    /// The socket reported an error; the read may go on or end after it.
    Failed(io::Error),
    /// The kernel stopped this read: arm it again to hear the socket.
    Ended,
}

pub(super) struct ArmedReads {
    /// Dropped first: the kernel lets go of the buffers before they are freed.
    ring: IoUring,
    buffers: ProvidedBuffers,
    /// What each read asks for: room for any sender's address, no control data.
    msghdr: Box<libc::msghdr>,
}

// SAFETY: the raw pointers inside point into the value's own allocations.
// The ring is used only by the thread that made it (DEFER_TASKRUN), which
// is the media thread that owns this value.
unsafe impl Send for ArmedReads {}

impl ArmedReads {
    /// Sets up the ring on the calling thread, with `buffers` (a power of
    /// two) lent to the kernel. Fails on a kernel without multishot reads
    /// and provided buffer rings (before 6.1) or where io_uring is refused.
    pub(super) fn new(buffers: u16) -> io::Result<ArmedReads> {
        let ring = IoUring::builder()
            .setup_single_issuer()
            .setup_defer_taskrun()
            .setup_taskrun_flag()
            .setup_cqsize(COMPLETIONS.max(4 * u32::from(buffers)))
            .build(SUBMISSIONS)?;
        let buffers = ProvidedBuffers::new(buffers)?;
        // SAFETY: the ring memory is page-aligned (mmap), holds `len`
        // initialised entries and outlives the registration: `ring` is
        // dropped before `buffers`.
        unsafe {
            ring.submitter().register_buf_ring_with_flags(
                buffers.ring.as_ptr() as u64,
                buffers.len,
                GROUP,
                0,
            )?;
        }
        // SAFETY: all-zero is a valid msghdr; only the lengths matter here.
        let mut msghdr: Box<libc::msghdr> = Box::new(unsafe { std::mem::zeroed() });
        msghdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as u32;
        Ok(ArmedReads {
            ring,
            buffers,
            msghdr,
        })
    }

    /// Starts reading `fd`; its datagrams come back under `token` (below
    /// bit 62) until the read ends or [`ArmedReads::disarm`] cancels it.
    pub(super) fn arm(&mut self, token: u64, fd: RawFd) -> io::Result<()> {
        let entry = opcode::RecvMsgMulti::new(types::Fd(fd), &*self.msghdr, GROUP)
            .build()
            .user_data(token);
        self.submit_now(&entry)
    }

    /// Stops the read under `token`. Its datagrams already collected by the
    /// kernel may still come once; the token is not used again.
    pub(super) fn disarm(&mut self, token: u64) -> io::Result<()> {
        let entry = opcode::AsyncCancel::new(token).build().user_data(CANCEL);
        self.submit_now(&entry)
    }

    fn submit_now(&mut self, entry: &io_uring::squeue::Entry) -> io::Result<()> {
        // SAFETY: the msghdr an arm points to lives as long as the ring;
        // a cancel points to nothing.
        if unsafe { self.ring.submission().push(entry) }.is_err() {
            // Every entry is submitted at once, so the queue only holds
            // ones an earlier submit could not pass; try them again.
            self.submit()?;
            // SAFETY: as above.
            unsafe { self.ring.submission().push(entry) }
                .map_err(|_| io::Error::other("io_uring submission queue full"))?;
        }
        self.submit()
    }

    fn submit(&mut self) -> io::Result<()> {
        loop {
            match self.ring.submit() {
                Ok(_) => return Ok(()),
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Hands `each` everything that arrived since the last collection, in
    /// the order the kernel read it, with the token of its read. Costs no
    /// system call when nothing arrived.
    pub(super) fn collect(&mut self, mut each: impl FnMut(u64, Read<'_>)) -> io::Result<()> {
        let pending = {
            let sq = self.ring.submission();
            sq.taskrun() || sq.cq_overflow() || !sq.is_empty()
        };
        if pending {
            // Runs the work the arrivals left for this thread: the reads.
            match self.ring.submit_and_wait(0) {
                Ok(_) => {}
                Err(e) if super::uring::is_transient(&e) => {}
                Err(e) => return Err(e),
            }
        }
        let ArmedReads {
            ring,
            buffers,
            msghdr,
        } = self;
        let mut lent_back = false;
        for completion in ring.completion() {
            let token = completion.user_data();
            if token & CANCEL != 0 {
                continue;
            }
            let result = completion.result();
            let flags = completion.flags();
            if let Some(id) = cqueue::buffer_select(flags) {
                if result >= 0 {
                    let buffer = buffers.get(id);
                    match RecvMsgOut::parse(buffer, msghdr) {
                        Ok(out) => {
                            if let Some(from) = sender(&out) {
                                let payload = out.payload_data();
                                each(
                                    token,
                                    Read::Datagram(from, &payload[..payload.len().min(DATAGRAM)]),
                                );
                            }
                        }
                        Err(()) => each(
                            token,
                            Read::Failed(io::Error::other("io_uring read overran its buffer")),
                        ),
                    }
                }
                buffers.lend(id);
                lent_back = true;
            } else if result < 0 && !matches!(-result, libc::ENOBUFS | libc::ECANCELED) {
                each(token, Read::Failed(io::Error::from_raw_os_error(-result)));
            }
            if !cqueue::more(flags) && result != -libc::ECANCELED {
                each(token, Read::Ended);
            }
        }
        if lent_back {
            buffers.publish();
        }
        Ok(())
    }
}

/// The sender's address the kernel wrote ahead of the datagram.
fn sender(out: &RecvMsgOut<'_>) -> Option<SocketAddr> {
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let name = out.name_data();
    let len = name
        .len()
        .min(std::mem::size_of::<libc::sockaddr_storage>());
    // SAFETY: copies at most the storage's size from a slice of that length.
    unsafe {
        std::ptr::copy_nonoverlapping(
            name.as_ptr(),
            (&mut storage as *mut libc::sockaddr_storage).cast::<u8>(),
            len,
        );
    }
    to_socket_addr(&storage)
}

/// Buffers lent to the kernel through a ring of their addresses.
struct ProvidedBuffers {
    /// `len` entries in memory of their own (mmap), page-aligned as the
    /// kernel requires. The tail sits in the first entry's reserved field.
    ring: NonNull<BufRingEntry>,
    len: u16,
    /// This thread's tail: entries up to it are filled, and the kernel sees
    /// them once published.
    tail: u16,
    memory: Box<[u8]>,
}

impl ProvidedBuffers {
    fn new(len: u16) -> io::Result<ProvidedBuffers> {
        if !len.is_power_of_two() {
            return Err(io::Error::other(
                "the provided buffers must be a power of two",
            ));
        }
        let bytes = usize::from(len) * std::mem::size_of::<BufRingEntry>();
        // SAFETY: an anonymous private mapping; the result is checked.
        let addr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if addr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ring = NonNull::new(addr.cast::<BufRingEntry>())
            .ok_or_else(|| io::Error::other("mmap returned null"))?;
        let mut buffers = ProvidedBuffers {
            ring,
            len,
            tail: 0,
            memory: vec![0u8; usize::from(len) * BUFFER].into_boxed_slice(),
        };
        for id in 0..len {
            buffers.lend(id);
        }
        buffers.publish();
        Ok(buffers)
    }

    fn get(&self, id: u16) -> &[u8] {
        let start = usize::from(id % self.len) * BUFFER;
        &self.memory[start..start + BUFFER]
    }

    /// Puts buffer `id` at the tail; the kernel sees it once published.
    fn lend(&mut self, id: u16) {
        let id = id % self.len;
        let slot = usize::from(self.tail & (self.len - 1));
        let addr = self.memory[usize::from(id) * BUFFER..].as_ptr() as u64;
        // SAFETY: slot < len, inside the mapping. The kernel reads entries
        // only up to the published tail, and this one is past it.
        let entry = unsafe { &mut *self.ring.as_ptr().add(slot) };
        entry.set_addr(addr);
        entry.set_len(BUFFER as u32);
        entry.set_bid(id);
        self.tail = self.tail.wrapping_add(1);
    }

    fn publish(&self) {
        // SAFETY: the tail field is the first entry's, inside the mapping,
        // aligned for a u16, and read by the kernel only atomically.
        let tail =
            unsafe { AtomicU16::from_ptr(BufRingEntry::tail(self.ring.as_ptr()).cast_mut()) };
        tail.store(self.tail, Ordering::Release);
    }
}

impl Drop for ProvidedBuffers {
    fn drop(&mut self) {
        let bytes = usize::from(self.len) * std::mem::size_of::<BufRingEntry>();
        // SAFETY: the mapping made in `new`, no longer registered (the ring
        // was dropped first).
        unsafe { libc::munmap(self.ring.as_ptr().cast(), bytes) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;
    use std::time::{Duration, Instant};

    /// What the reads report within `wait`, or until `want` reports came.
    fn collect_for(reads: &mut ArmedReads, want: usize, wait: Duration) -> Vec<(u64, String)> {
        let mut got = Vec::new();
        let deadline = Instant::now() + wait;
        while got.len() < want && Instant::now() < deadline {
            reads
                .collect(|token, read| match read {
                    Read::Datagram(_, data) => {
                        got.push((token, String::from_utf8_lossy(data).into_owned()))
                    }
                    Read::Failed(e) => panic!("read failed: {e}"),
                    Read::Ended => got.push((token, "ended".into())),
                })
                .unwrap();
            std::thread::sleep(Duration::from_millis(5));
        }
        got
    }

    #[test]
    fn each_armed_socket_is_read_with_its_token_and_sender_until_disarmed() {
        let Ok(mut reads) = ArmedReads::new(16) else {
            eprintln!("multishot io_uring reads are not allowed here; the recvmmsg path is tested instead");
            return;
        };
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        reads.arm(1, a.as_raw_fd()).unwrap();
        reads.arm(2, b.as_raw_fd()).unwrap();
        let mut from = None;
        sender.send_to(b"a1", a.local_addr().unwrap()).unwrap();
        sender.send_to(b"b1", b.local_addr().unwrap()).unwrap();
        sender.send_to(b"a2", a.local_addr().unwrap()).unwrap();
        let mut got = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(2);
        while got.len() < 3 && Instant::now() < deadline {
            reads
                .collect(|token, read| {
                    if let Read::Datagram(addr, data) = read {
                        from = Some(addr);
                        got.push((token, data.to_vec()));
                    }
                })
                .unwrap();
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(from, Some(sender.local_addr().unwrap()));
        got.sort();
        assert_eq!(
            got,
            [
                (1, b"a1".to_vec()),
                (1, b"a2".to_vec()),
                (2, b"b1".to_vec())
            ]
        );
        // Nothing arrived: nothing is reported.
        assert!(collect_for(&mut reads, 1, Duration::from_millis(100)).is_empty());
        reads.disarm(1).unwrap();
        sender.send_to(b"a3", a.local_addr().unwrap()).unwrap();
        sender.send_to(b"b2", b.local_addr().unwrap()).unwrap();
        assert_eq!(
            collect_for(&mut reads, 2, Duration::from_millis(300)),
            [(2, "b2".to_string())]
        );
    }

    #[test]
    fn a_read_out_of_buffers_ends_and_armed_again_reads_the_rest() {
        let Ok(mut reads) = ArmedReads::new(4) else {
            eprintln!("multishot io_uring reads are not allowed here; the recvmmsg path is tested instead");
            return;
        };
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        reads.arm(7, socket.as_raw_fd()).unwrap();
        for i in 0..10 {
            sender
                .send_to(format!("d{i}").as_bytes(), socket.local_addr().unwrap())
                .unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
        let mut datagrams = Vec::new();
        for _ in 0..10 {
            let mut ended = false;
            reads
                .collect(|_, read| match read {
                    Read::Datagram(_, data) => {
                        datagrams.push(String::from_utf8_lossy(data).into_owned())
                    }
                    Read::Failed(e) => panic!("read failed: {e}"),
                    Read::Ended => ended = true,
                })
                .unwrap();
            if ended {
                reads.arm(7, socket.as_raw_fd()).unwrap();
            }
            if datagrams.len() == 10 {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let want: Vec<String> = (0..10).map(|i| format!("d{i}")).collect();
        assert_eq!(datagrams, want, "every datagram, in order, none twice");
    }
}
