//! What the media thread's two io_uring instances share.

use std::io;

use io_uring::{cqueue, IoUring};

/// Submits what is queued and waits until `n` entries have completed,
/// handing each completion to `each`. An interrupted or busy wait is tried
/// again; any other error means the ring can no longer be trusted.
pub(super) fn complete(
    ring: &mut IoUring,
    n: usize,
    mut each: impl FnMut(cqueue::Entry),
) -> io::Result<()> {
    let mut done = 0;
    while done < n {
        match ring.submit_and_wait(n - done) {
            Ok(_) => {}
            Err(e) if is_transient(&e) => {}
            Err(e) => return Err(e),
        }
        for completion in ring.completion() {
            done += 1;
            each(completion);
        }
    }
    Ok(())
}

/// An `io_uring_enter` that failed only for now (interrupted, or the
/// kernel short of room for completions): try it again.
pub(super) fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EINTR) | Some(libc::EAGAIN) | Some(libc::EBUSY)
    )
}
