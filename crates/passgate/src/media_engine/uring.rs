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
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EINTR) | Some(libc::EAGAIN) | Some(libc::EBUSY)
                ) => {}
            Err(e) => return Err(e),
        }
        for completion in ring.completion() {
            done += 1;
            each(completion);
        }
    }
    Ok(())
}
