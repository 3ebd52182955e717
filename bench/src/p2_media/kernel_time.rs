//! Receive timestamps taken by the kernel (SO_TIMESTAMPNS) as the datagram
//! is queued: on loopback that is inside the agent's send call, so the
//! inter-arrival times are the agent's pacing, not this process's wake-ups.
//! It also lets the receiving thread drain every few milliseconds instead
//! of being woken per packet (a wake-up the kernel would charge to the
//! agent's send).

use std::io;
use std::os::fd::AsRawFd;
use std::time::Duration;

pub fn enable(socket: &impl AsRawFd) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: the option value is a c_int that outlives the call.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// One datagram without blocking: its length and its kernel receive time
/// (CLOCK_REALTIME, as a duration since the epoch), if the kernel gave one.
pub fn recv(socket: &impl AsRawFd, buf: &mut [u8]) -> io::Result<(usize, Option<Duration>)> {
    // u64s keep the control buffer aligned for cmsghdr.
    let mut control = [0u64; 16];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: msghdr is plain data; zero is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: every pointer in msg refers to live buffers of the stated sizes.
    let n = unsafe { libc::recvmsg(socket.as_raw_fd(), &mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut stamp = None;
    // SAFETY: the CMSG_* macros walk the control data recvmsg just wrote,
    // bounded by msg_controllen; the timestamp is read unaligned.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                stamp = Some(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32));
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok((n as usize, stamp))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::time::SystemTime;

    #[test]
    fn loopback_datagrams_carry_the_time_they_were_sent() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        enable(&rx).unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let now = || {
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
        };
        let mut buf = [0u8; 16];
        // The kernel turns time-stamping on a moment after the first socket
        // asks (a deferred static key); until then datagrams are stamped
        // when read.
        tx.send_to(b"warm", rx.local_addr().unwrap()).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        recv(&rx, &mut buf).unwrap();
        let before = now();
        tx.send_to(b"one", rx.local_addr().unwrap()).unwrap();
        let after = now();
        std::thread::sleep(Duration::from_millis(30));
        tx.send_to(b"two", rx.local_addr().unwrap()).unwrap();
        let (n, first) = recv(&rx, &mut buf).unwrap();
        assert_eq!(&buf[..n], b"one");
        let (_, second) = recv(&rx, &mut buf).unwrap();
        let (first, second) = (first.unwrap(), second.unwrap());
        assert!(
            before <= first && first <= after,
            "{before:?} <= {first:?} <= {after:?}"
        );
        // Stamped when sent, not when read (both were read just now).
        assert!(
            second - first >= Duration::from_millis(30),
            "{:?}",
            second - first
        );
        let empty = recv(&rx, &mut buf).unwrap_err();
        assert_eq!(empty.kind(), io::ErrorKind::WouldBlock);
    }
}
