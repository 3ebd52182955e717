//! File descriptors: the open-file limit is raised to its hard maximum at
//! start, and TCP connections get only what is left once every call's media
//! sockets and the process's own files are set aside, so signalling can never
//! take the sockets calls need.

/// Descriptors set aside for everything but calls and TCP connections:
/// listeners, the database, the speech model, logs, the admin HTTP.
pub const BASE: u64 = 256;
/// Descriptors set aside per call (`sip.max_calls`): its RTP socket and room
/// for an RTCP one.
pub const PER_CALL: u64 = 2;
/// The most the soft limit is raised to (Linux's default fs.nr_open).
pub const MAX_OPEN_FILES: u64 = 1 << 20;
/// TCP connections left even when the limit is too low for the calls.
pub const TCP_FLOOR: usize = 16;

/// The open-file limit after trying to raise the soft limit to the hard one
/// (at most [`MAX_OPEN_FILES`]), and the error when it could not be raised.
pub fn raise_open_file_limit() -> (u64, Option<std::io::Error>) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return (1024, Some(std::io::Error::last_os_error()));
    }
    // An unlimited hard limit is still capped by the kernel (fs.nr_open).
    let target = lim.rlim_max.min(MAX_OPEN_FILES);
    if lim.rlim_cur >= target {
        return (lim.rlim_cur, None);
    }
    let raised = libc::rlimit {
        rlim_cur: target,
        rlim_max: lim.rlim_max,
    };
    // SAFETY: setrlimit reads the struct we own.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
        return (lim.rlim_cur, Some(std::io::Error::last_os_error()));
    }
    (target, None)
}

/// Descriptors the calls and the process need before any TCP connection.
pub fn reserved(max_calls: usize) -> u64 {
    BASE + PER_CALL * max_calls as u64
}

/// TCP connections allowed under an open-file `limit`: the configured cap,
/// or what is left after [`reserved`] when that is less (never under
/// [`TCP_FLOOR`], nor over the configured cap).
pub fn tcp_cap(limit: u64, max_calls: usize, configured: usize) -> usize {
    let room = limit.saturating_sub(reserved(max_calls));
    let room = usize::try_from(room).unwrap_or(usize::MAX);
    configured.min(room.max(TCP_FLOOR))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_gets_what_the_calls_leave() {
        // Plenty: the configured cap.
        assert_eq!(tcp_cap(65_536, 1000, 1000), 1000);
        // 4,096 - 256 - 2 × 1,000 = 1,840 left; the cap of 5,000 shrinks to it.
        assert_eq!(tcp_cap(4096, 1000, 5000), 1840);
        // Too few for the calls: TCP keeps its floor.
        assert_eq!(tcp_cap(1024, 1000, 1000), TCP_FLOOR);
        assert_eq!(tcp_cap(1024, 1000, 4), 4);
    }

    #[test]
    fn the_limit_is_raised_to_the_hard_limit() {
        let mut start = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit and setrlimit use structs we own.
        assert_eq!(
            unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut start) },
            0
        );
        // Lowered first (always allowed), so there is something to raise.
        let lowered = libc::rlimit {
            rlim_cur: start.rlim_max.min(512),
            rlim_max: start.rlim_max,
        };
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lowered) }, 0);
        let (limit, err) = raise_open_file_limit();
        assert!(err.is_none(), "{err:?}");
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: as above.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
        assert_eq!(lim.rlim_cur, lim.rlim_max.min(MAX_OPEN_FILES));
        assert_eq!(limit, lim.rlim_cur);
    }
}
