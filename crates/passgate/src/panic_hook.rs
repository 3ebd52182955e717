//! What a panic on a media thread or a recognizer worker reports: its
//! message and where it happened, as one error line, at once.
//!
//! The default hook, under `RUST_BACKTRACE`, symbolizes a backtrace of the
//! whole binary before the unwinding reaches the `catch_unwind` that keeps
//! the thread going (the media reactor's, the recognizer worker's). That
//! holds the thread for as long as the lookup takes: hundreds of
//! milliseconds on an idle machine, seconds on a busy one. On a media
//! thread that is the audio of every other call on it; on a recognizer
//! worker, every other caller's turn waiting for it. A panic in one call's
//! session or turn is that call's bug and must cost the others nothing, so
//! on those threads it is logged without a backtrace; panics on every other
//! thread go to the hook that was there before.

use std::panic::PanicHookInfo;
use std::sync::Once;

/// How every media thread's name begins.
const MEDIA_THREAD_PREFIX: &str = "passgate-media-";

/// The name of media thread `index`.
pub fn media_thread_name(index: usize) -> String {
    format!("{MEDIA_THREAD_PREFIX}{index}")
}

/// What the panic on a thread named `name` broke, if it is a thread this
/// hook reports.
fn what_panicked(name: &str) -> Option<&'static str> {
    if name.starts_with(MEDIA_THREAD_PREFIX) {
        Some("a media thread panicked in a call's session")
    } else if name.starts_with(asr::WORKER_THREAD_PREFIX) {
        Some("a recognizer worker panicked in a call's turn")
    } else {
        None
    }
}

/// Installs the hook once per process, in front of the hook already set.
pub fn install() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let thread = std::thread::current();
            match thread
                .name()
                .and_then(|name| Some((name, what_panicked(name)?)))
            {
                Some((name, what)) => report(name, what, info),
                None => previous(info),
            }
        }));
    });
}

fn report(thread: &str, what: &'static str, info: &PanicHookInfo<'_>) {
    let location = info
        .location()
        .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
        .unwrap_or_default();
    tracing::error!(thread, location, panic = message(info.payload()), "{what}");
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

    #[test]
    fn media_threads_and_recognizer_workers_are_reported_and_no_other() {
        assert!(what_panicked(&media_thread_name(3)).is_some());
        let worker = format!("{}1", asr::WORKER_THREAD_PREFIX);
        assert!(what_panicked(&worker).is_some());
        assert!(what_panicked("tokio-runtime-worker").is_none());
        assert!(what_panicked("main").is_none());
    }
}
