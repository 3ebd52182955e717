//! What a panic on a media thread reports: its message and where it
//! happened, as one error line, at once.
//!
//! The default hook, under `RUST_BACKTRACE`, symbolizes a backtrace of the
//! whole binary before the unwinding reaches the reactor's `catch_unwind`.
//! That holds the media thread, and the audio of every other call on it,
//! for as long as the lookup takes: hundreds of milliseconds on an idle
//! machine, seconds on a busy one. A panic in one call's session is that
//! call's bug and must cost the others nothing, so on a media thread it is
//! logged without a backtrace; panics on every other thread go to the hook
//! that was there before.

use std::panic::PanicHookInfo;
use std::sync::Once;

/// How every media thread's name begins.
const THREAD_PREFIX: &str = "passgate-media-";

/// The name of media thread `index`.
pub(super) fn thread_name(index: usize) -> String {
    format!("{THREAD_PREFIX}{index}")
}

/// Installs the hook once per process, in front of the hook already set.
pub(super) fn install() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let thread = std::thread::current();
            match thread.name() {
                Some(name) if name.starts_with(THREAD_PREFIX) => report(name, info),
                _ => previous(info),
            }
        }));
    });
}

fn report(thread: &str, info: &PanicHookInfo<'_>) {
    let location = info
        .location()
        .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
        .unwrap_or_default();
    tracing::error!(
        thread,
        location,
        panic = message(info.payload()),
        "a media thread panicked in a call's session"
    );
}

/// The panic's message, when it is text (as `panic!` makes it).
fn message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(not text)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_message_is_read_whether_static_or_formatted() {
        let fixed: Box<dyn std::any::Any + Send> = Box::new("fixed");
        let formatted: Box<dyn std::any::Any + Send> = Box::new(format!("at {}", 3));
        let other: Box<dyn std::any::Any + Send> = Box::new(7u8);
        assert_eq!(message(fixed.as_ref()), "fixed");
        assert_eq!(message(formatted.as_ref()), "at 3");
        assert_eq!(message(other.as_ref()), "(not text)");
    }
}
