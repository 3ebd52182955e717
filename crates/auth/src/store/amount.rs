use std::str::FromStr;

use super::error::StoreError;
use crate::flow::Balance;

/// Parses an amount as typed by an operator: `1234.56`, `-3.5`, `12`.
/// Done on the decimal text, not through a float, so cents are exact.
impl FromStr for Balance {
    type Err = StoreError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || StoreError::BadAmount(text.to_string());
        let trimmed = text.trim();
        let (negative, unsigned) = match trimmed.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, trimmed),
        };
        let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !all_digits(whole) || !all_digits(fraction) || fraction.len() > 2 {
            return Err(bad());
        }
        if unsigned.ends_with('.') {
            return Err(bad());
        }
        let whole: i64 = whole.parse().map_err(|_| bad())?;
        let fraction: i64 = format!("{fraction:0<2}").parse().map_err(|_| bad())?;
        let cents = whole
            .checked_mul(100)
            .and_then(|c| c.checked_add(fraction))
            .ok_or_else(bad)?;
        Ok(Balance {
            cents: if negative { -cents } else { cents },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_amounts_exactly() {
        let cases = [
            ("1234.56", 123_456),
            ("0.05", 5),
            ("12", 1_200),
            ("3.5", 350),
            ("-2.50", -250),
            (" 7.00 ", 700),
        ];
        for (text, cents) in cases {
            assert_eq!(text.parse::<Balance>().unwrap().cents, cents, "{text}");
        }
    }

    #[test]
    fn refuses_what_is_not_an_amount() {
        for text in [
            "",
            "abc",
            "1.234",
            "1,50",
            "1.",
            ".5",
            "--1",
            "1e3",
            "99999999999999999999",
        ] {
            let err = text.parse::<Balance>().unwrap_err();
            assert!(matches!(err, StoreError::BadAmount(_)), "{text}");
            assert!(err.to_string().contains("not an amount"), "{err}");
        }
    }
}
