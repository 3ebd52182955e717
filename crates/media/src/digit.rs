//! The sixteen DTMF keys, shared by the RFC 4733 and in-band detectors.

use std::fmt;

/// One DTMF key: 0-9, `*`, `#` and the rarely used A-D column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digit(char);

impl Digit {
    /// Maps an RFC 4733 event code (0-15) to its key; other codes (flash, tones) are not digits.
    pub fn from_event_code(code: u8) -> Option<Digit> {
        let c = match code {
            0..=9 => (b'0' + code) as char,
            10 => '*',
            11 => '#',
            12..=15 => (b'A' + code - 12) as char,
            _ => return None,
        };
        Some(Digit(c))
    }

    /// Accepts `0-9`, `*`, `#`, `A-D` (lower case too).
    pub fn from_char(c: char) -> Option<Digit> {
        let c = c.to_ascii_uppercase();
        match c {
            '0'..='9' | '*' | '#' | 'A'..='D' => Some(Digit(c)),
            _ => None,
        }
    }

    /// The RFC 4733 event code for this key.
    pub fn event_code(self) -> u8 {
        match self.0 {
            '*' => 10,
            '#' => 11,
            'A'..='D' => self.0 as u8 - b'A' + 12,
            c => c as u8 - b'0',
        }
    }

    pub fn as_char(self) -> char {
        self.0
    }
}

impl fmt::Display for Digit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_codes_map_to_keys_and_back() {
        let keys = "0123456789*#ABCD";
        for (code, key) in keys.chars().enumerate() {
            let digit = Digit::from_event_code(code as u8).unwrap();
            assert_eq!(digit.as_char(), key);
            assert_eq!(digit.event_code(), code as u8);
            assert_eq!(Digit::from_char(key), Some(digit));
        }
    }

    #[test]
    fn non_digit_events_and_chars_are_rejected() {
        assert_eq!(Digit::from_event_code(16), None); // flash
        assert_eq!(Digit::from_event_code(255), None);
        assert_eq!(Digit::from_char('E'), None);
        assert_eq!(Digit::from_char('a').map(Digit::as_char), Some('A'));
    }
}
