//! The few Linux calls the media threads need and std does not offer: a
//! level-triggered epoll set asked without blocking, an eventfd to wake a
//! thread waiting with no calls, and `recvmmsg` to take every datagram a
//! socket holds in one system call.

use std::io;
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Largest datagram kept; RTP from a trunk is far smaller, anything longer is truncated and then rejected by the parser.
pub const DATAGRAM: usize = 1500;
/// Datagrams taken from one socket per system call.
pub const BATCH: usize = 8;

pub struct Epoll {
    fd: OwnedFd,
    events: Vec<libc::epoll_event>,
}

impl Epoll {
    pub fn new() -> io::Result<Epoll> {
        // SAFETY: epoll_create1 takes no pointers; the result is checked.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Epoll {
            // SAFETY: fd is a new descriptor owned by nobody else.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            events: vec![libc::epoll_event { events: 0, u64: 0 }; 4096],
        })
    }

    /// Watches `fd` for input; `token` comes back with its readiness.
    /// Level-triggered, so one read per wait is enough: what is left is
    /// reported again.
    pub fn add(&self, fd: RawFd, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: token,
        };
        // SAFETY: ev lives across the call; both descriptors are open.
        if unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    pub fn remove(&self, fd: RawFd) {
        // SAFETY: a null event is allowed for EPOLL_CTL_DEL since Linux 2.6.9.
        unsafe {
            libc::epoll_ctl(
                self.fd.as_raw_fd(),
                libc::EPOLL_CTL_DEL,
                fd,
                std::ptr::null_mut(),
            );
        }
    }

    /// The tokens of ready descriptors; `timeout_ms` -1 waits for one. More
    /// ready than the buffer holds are reported on the next wait (level-triggered).
    pub fn wait(&mut self, timeout_ms: i32, ready: &mut Vec<u64>) -> io::Result<()> {
        ready.clear();
        loop {
            // SAFETY: the buffer holds `len` events and outlives the call.
            let n = unsafe {
                libc::epoll_wait(
                    self.fd.as_raw_fd(),
                    self.events.as_mut_ptr(),
                    self.events.len() as i32,
                    timeout_ms,
                )
            };
            if n >= 0 {
                ready.extend(self.events[..n as usize].iter().map(|e| e.u64));
                return Ok(());
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
    }
}

/// Wakes a media thread that waits with no calls to carry.
pub struct EventFd(OwnedFd);

impl EventFd {
    pub fn new() -> io::Result<EventFd> {
        // SAFETY: no pointers; the result is checked.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a new descriptor owned by nobody else.
        Ok(EventFd(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    pub fn raw(&self) -> RawFd {
        self.0.as_raw_fd()
    }

    pub fn signal(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64. A full counter (EAGAIN)
        // still leaves the descriptor readable, which is all a wake needs.
        unsafe { libc::write(self.0.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    pub fn clear(&self) {
        let mut count: u64 = 0;
        // SAFETY: reads 8 bytes into a live u64; EAGAIN (nothing signalled) is fine.
        unsafe { libc::read(self.0.as_raw_fd(), (&mut count as *mut u64).cast(), 8) };
    }
}

/// Puts the calling thread in the round-robin real-time class: its wake-ups
/// then come before every normal thread's, which keeps 20 ms packets on time
/// on a loaded machine. The kernel's real-time throttling still leaves the
/// others 5 % of each second.
pub fn set_realtime_priority(priority: u8) -> io::Result<()> {
    let param = libc::sched_param {
        sched_priority: i32::from(priority),
    };
    // SAFETY: param lives across the call; pthread_self is always valid.
    let rc = unsafe { libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_RR, &param) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(())
}

/// Dissolves a UDP socket's association (connect with AF_UNSPEC), so it
/// receives from anyone again; std has no call for it. Linux keeps the
/// local port only if it was bound explicitly, as RTP ports are.
pub fn disconnect(socket: &std::net::UdpSocket) -> io::Result<()> {
    // SAFETY: a zeroed sockaddr with family AF_UNSPEC is a valid argument
    // of the given length; the fd is owned by `socket` for the call.
    let rc = unsafe {
        let mut addr: libc::sockaddr = std::mem::zeroed();
        addr.sa_family = libc::AF_UNSPEC as libc::sa_family_t;
        libc::connect(
            socket.as_raw_fd(),
            &addr,
            std::mem::size_of::<libc::sockaddr>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Receive buffers for `recvmmsg`, reused for every socket.
pub struct RecvBatch {
    bufs: Box<[[u8; DATAGRAM]; BATCH]>,
    addrs: [libc::sockaddr_storage; BATCH],
    iovecs: [libc::iovec; BATCH],
    headers: [libc::mmsghdr; BATCH],
    len: usize,
}

// SAFETY: the raw pointers inside point only into the struct's own boxed
// buffers and are rebuilt before each use.
unsafe impl Send for RecvBatch {}

impl RecvBatch {
    pub fn new() -> RecvBatch {
        // SAFETY: all-zero is a valid value for these plain C structs (the
        // pointers are null until `recv` points them into the buffers).
        unsafe {
            RecvBatch {
                bufs: Box::new([[0u8; DATAGRAM]; BATCH]),
                addrs: std::mem::zeroed(),
                iovecs: std::mem::zeroed(),
                headers: std::mem::zeroed(),
                len: 0,
            }
        }
    }

    /// Takes up to [`BATCH`] datagrams waiting on `socket`; none is not an error.
    pub fn recv(&mut self, socket: &UdpSocket) -> io::Result<usize> {
        for i in 0..BATCH {
            self.iovecs[i] = libc::iovec {
                iov_base: self.bufs[i].as_mut_ptr().cast(),
                iov_len: DATAGRAM,
            };
            let hdr = &mut self.headers[i].msg_hdr;
            hdr.msg_name = (&mut self.addrs[i] as *mut libc::sockaddr_storage).cast();
            hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as u32;
            hdr.msg_iov = &mut self.iovecs[i];
            hdr.msg_iovlen = 1;
            hdr.msg_control = std::ptr::null_mut();
            hdr.msg_controllen = 0;
            hdr.msg_flags = 0;
            self.headers[i].msg_len = 0;
        }
        self.len = 0;
        // SAFETY: every header points into buffers owned by self, sized as declared.
        let n = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                self.headers.as_mut_ptr(),
                BATCH as u32,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            let err = io::Error::last_os_error();
            return match err.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(0),
                _ => Err(err),
            };
        }
        self.len = n as usize;
        Ok(self.len)
    }

    /// The datagrams of the last [`RecvBatch::recv`], with their senders.
    pub fn datagrams(&self) -> impl Iterator<Item = (SocketAddr, &[u8])> {
        (0..self.len).filter_map(|i| {
            let from = to_socket_addr(&self.addrs[i])?;
            let len = (self.headers[i].msg_len as usize).min(DATAGRAM);
            Some((from, &self.bufs[i][..len]))
        })
    }
}

pub(super) fn to_socket_addr(storage: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match i32::from(storage.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let a: &libc::sockaddr_in = unsafe { &*(storage as *const _ as *const _) };
            Some(SocketAddr::V4(SocketAddrV4::new(
                u32::from_be(a.sin_addr.s_addr).into(),
                u16::from_be(a.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let a: &libc::sockaddr_in6 = unsafe { &*(storage as *const _ as *const _) };
            Some(SocketAddr::V6(SocketAddrV6::new(
                a.sin6_addr.s6_addr.into(),
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_takes_every_waiting_datagram_with_its_sender() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut batch = RecvBatch::new();
        assert_eq!(
            batch.recv(&rx).unwrap(),
            0,
            "nothing waiting is not an error"
        );
        for i in 0..3u8 {
            tx.send_to(&[i; 20], rx.local_addr().unwrap()).unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert_eq!(batch.recv(&rx).unwrap(), 3);
        let got: Vec<_> = batch.datagrams().map(|(f, d)| (f, d.to_vec())).collect();
        for (i, (from, data)) in got.iter().enumerate() {
            assert_eq!(*from, tx.local_addr().unwrap());
            assert_eq!(data, &vec![i as u8; 20]);
        }
    }

    #[test]
    fn epoll_reports_a_readable_socket_until_it_is_drained() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut ep = Epoll::new().unwrap();
        ep.add(rx.as_raw_fd(), 7).unwrap();
        let mut ready = Vec::new();
        ep.wait(0, &mut ready).unwrap();
        assert!(ready.is_empty());
        tx.send_to(b"x", rx.local_addr().unwrap()).unwrap();
        ep.wait(1000, &mut ready).unwrap();
        assert_eq!(ready, [7]);
        ep.wait(0, &mut ready).unwrap();
        assert_eq!(ready, [7], "level-triggered: still readable");
        RecvBatch::new().recv(&rx).unwrap();
        ep.wait(0, &mut ready).unwrap();
        assert!(ready.is_empty());
    }

    #[test]
    fn an_eventfd_wakes_a_blocked_wait() {
        let mut ep = Epoll::new().unwrap();
        let wake = EventFd::new().unwrap();
        ep.add(wake.raw(), 1).unwrap();
        wake.signal();
        let mut ready = Vec::new();
        ep.wait(-1, &mut ready).unwrap();
        assert_eq!(ready, [1]);
        wake.clear();
        ep.wait(0, &mut ready).unwrap();
        assert!(ready.is_empty());
    }
}
