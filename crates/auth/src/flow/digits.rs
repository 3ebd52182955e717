//! Collecting one keypad entry: the keys, the terminator and restart keys,
//! and the first-key, inter-digit and total timers.

use std::time::Instant;

use super::action::DigitCollection;
use crate::secret::SecretString;

/// Keys a telephone keypad (RFC 4733 events 0–15) can send.
fn is_keypad_key(key: char) -> bool {
    matches!(key, '0'..='9' | '*' | '#' | 'A'..='D')
}

#[derive(Debug)]
pub(super) struct DigitEntry {
    spec: DigitCollection,
    /// May be a one-time code.
    keys: SecretString,
    /// When the timers started: the end of the prompt, or the first key if
    /// the caller barged in.
    armed_at: Option<Instant>,
    last_key_at: Option<Instant>,
}

/// A key that may still arrive for an entry already complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct TrailingKey {
    pub key: char,
    pub until: Instant,
}

impl TrailingKey {
    /// Whether `key` at `now` is this trailing key.
    pub(super) fn is(&self, now: Instant, key: char) -> bool {
        key == self.key && now < self.until
    }
}

#[derive(Debug)]
pub(super) enum DigitStep {
    /// Keep collecting.
    Pending,
    /// The restart key threw the entry away.
    Restarted,
    /// Full, or ended by the terminator (which is not included).
    Complete(SecretString),
}

impl DigitEntry {
    pub(super) fn new(spec: DigitCollection) -> Self {
        Self {
            spec,
            keys: SecretString::default(),
            armed_at: None,
            last_key_at: None,
        }
    }

    /// Starts the timers unless they already run.
    pub(super) fn arm(&mut self, now: Instant) {
        self.armed_at.get_or_insert(now);
    }

    /// Before the first key only the total timer runs: the caller may need
    /// time to find the phone or read the SMS.
    pub(super) fn deadline(&self) -> Option<Instant> {
        let armed_at = self.armed_at?;
        let total = armed_at + self.spec.total_timeout;
        Some(match self.last_key_at {
            Some(last) => total.min(last + self.spec.inter_digit_timeout),
            None => total,
        })
    }

    pub(super) fn push(&mut self, now: Instant, key: char) -> DigitStep {
        if !is_keypad_key(key) {
            return DigitStep::Pending;
        }
        self.arm(now);
        if Some(key) == self.spec.restart {
            self.keys.clear();
            self.armed_at = Some(now);
            self.last_key_at = None;
            return DigitStep::Restarted;
        }
        if Some(key) == self.spec.terminator {
            return DigitStep::Complete(std::mem::take(&mut self.keys));
        }
        self.keys.push(key);
        self.last_key_at = Some(now);
        if self.keys.char_count() >= self.spec.max_digits {
            DigitStep::Complete(std::mem::take(&mut self.keys))
        } else {
            DigitStep::Pending
        }
    }

    /// When `key` fills the entry to its length, the terminator the caller
    /// may still press out of habit, and until when: that key ends nothing
    /// and belongs to this entry, not to the step after it.
    pub(super) fn trailing_terminator(&self, now: Instant, key: char) -> Option<TrailingKey> {
        let terminator = self.spec.terminator?;
        let fills = is_keypad_key(key)
            && Some(key) != self.spec.restart
            && key != terminator
            && self.keys.char_count() + 1 >= self.spec.max_digits;
        fills.then(|| TrailingKey {
            key: terminator,
            until: now + self.spec.inter_digit_timeout,
        })
    }

    /// What was entered so far, ending the entry.
    pub(super) fn take_keys(&mut self) -> SecretString {
        std::mem::take(&mut self.keys)
    }

    /// What was entered, if a timer has run out by `now`.
    pub(super) fn expire(&mut self, now: Instant) -> Option<SecretString> {
        let deadline = self.deadline()?;
        (now >= deadline).then(|| std::mem::take(&mut self.keys))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    fn entry() -> DigitEntry {
        DigitEntry::new(DigitCollection {
            max_digits: 4,
            inter_digit_timeout: 3 * SECOND,
            total_timeout: 10 * SECOND,
            terminator: Some('#'),
            restart: Some('*'),
        })
    }

    fn complete(step: DigitStep) -> String {
        match step {
            DigitStep::Complete(keys) => keys.expose().to_string(),
            other => panic!("expected a complete entry, got {other:?}"),
        }
    }

    #[test]
    fn completes_when_full() {
        let t0 = Instant::now();
        let mut e = entry();
        for key in ['1', '2', '3'] {
            assert!(matches!(e.push(t0, key), DigitStep::Pending));
        }
        assert_eq!(complete(e.push(t0, '4')), "1234");
    }

    #[test]
    fn terminator_ends_early_and_is_not_kept() {
        let t0 = Instant::now();
        let mut e = entry();
        e.push(t0, '1');
        e.push(t0, '2');
        assert_eq!(complete(e.push(t0, '#')), "12");
    }

    #[test]
    fn restart_throws_away_the_keys_and_restarts_the_total_timer() {
        let t0 = Instant::now();
        let mut e = entry();
        e.arm(t0);
        e.push(t0 + SECOND, '9');
        assert!(matches!(e.push(t0 + 2 * SECOND, '*'), DigitStep::Restarted));
        assert_eq!(e.deadline(), Some(t0 + 12 * SECOND));
        for key in ['1', '2', '3'] {
            e.push(t0 + 3 * SECOND, key);
        }
        assert_eq!(complete(e.push(t0 + 3 * SECOND, '4')), "1234");
    }

    #[test]
    fn timers_start_at_arming_or_first_key() {
        let t0 = Instant::now();
        let mut unarmed = entry();
        assert_eq!(unarmed.deadline(), None);
        assert!(unarmed.expire(t0 + 100 * SECOND).is_none());

        let mut barged = entry();
        barged.push(t0, '5');
        assert_eq!(barged.deadline(), Some(t0 + 3 * SECOND));
        barged.arm(t0 + SECOND);
        assert_eq!(
            barged.deadline(),
            Some(t0 + 3 * SECOND),
            "re-arming must not extend"
        );
    }

    #[test]
    fn inter_digit_gap_ends_the_entry_with_what_was_typed() {
        let t0 = Instant::now();
        let mut e = entry();
        e.arm(t0);
        assert_eq!(e.deadline(), Some(t0 + 10 * SECOND));
        e.push(t0 + SECOND, '1');
        e.push(t0 + 2 * SECOND, '2');
        assert_eq!(e.deadline(), Some(t0 + 5 * SECOND));
        assert!(e.expire(t0 + 4 * SECOND).is_none());
        assert_eq!(e.expire(t0 + 5 * SECOND).unwrap().expose(), "12");
    }

    #[test]
    fn total_timer_caps_slow_typing() {
        let t0 = Instant::now();
        let mut e = entry();
        e.arm(t0);
        e.push(t0 + 8 * SECOND, '1');
        e.push(t0 + 9 * SECOND + SECOND / 2, '2');
        assert_eq!(e.deadline(), Some(t0 + 10 * SECOND));
        assert_eq!(e.expire(t0 + 10 * SECOND).unwrap().expose(), "12");
    }

    #[test]
    fn the_key_that_fills_the_entry_expects_a_trailing_terminator() {
        let t0 = Instant::now();
        let mut e = entry();
        for key in ['1', '2', '3'] {
            assert_eq!(e.trailing_terminator(t0, key), None, "{key} does not fill");
            e.push(t0, key);
        }
        assert_eq!(e.trailing_terminator(t0, '#'), None, "# ends it short");
        assert_eq!(e.trailing_terminator(t0, '*'), None, "* restarts it");
        let trailing = e.trailing_terminator(t0, '4').unwrap();
        assert_eq!(
            trailing,
            TrailingKey {
                key: '#',
                until: t0 + 3 * SECOND
            }
        );
        assert!(trailing.is(t0 + 2 * SECOND, '#'));
        assert!(!trailing.is(t0 + 3 * SECOND, '#'), "too late to belong");
        assert!(!trailing.is(t0, '5'));

        let mut no_terminator = DigitEntry::new(DigitCollection {
            terminator: None,
            ..entry().spec
        });
        for key in ['1', '2', '3'] {
            no_terminator.push(t0, key);
        }
        assert_eq!(no_terminator.trailing_terminator(t0, '4'), None);
    }

    #[test]
    fn non_keypad_characters_are_ignored() {
        let t0 = Instant::now();
        let mut e = entry();
        assert!(matches!(e.push(t0, 'x'), DigitStep::Pending));
        assert_eq!(e.deadline(), None);
        e.push(t0, 'A');
        assert_eq!(complete(e.push(t0, '#')), "A");
    }
}
