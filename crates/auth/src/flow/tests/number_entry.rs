//! Typing the account's number: `*`, `#`, the digit timers, normalisation.

use std::time::Duration;

use super::harness::*;
use crate::flow::*;
use crate::phone::CountryCode;

const ASKED_FOR_NUMBER: &[Step] = &[
    Call(Some(CALLER)),
    Played,
    NotFound,
    Played,
    Press("1"),
    Played,
];

fn typed_lookups(call: &Call) -> Vec<String> {
    call.lookups()
        .into_iter()
        .filter(|(_, purpose)| *purpose == LookupPurpose::TypedNumber)
        .map(|(number, _)| number)
        .collect()
}

#[test]
fn asks_for_ten_digits_with_hash_and_star() {
    let mut call = Call::new();
    call.run(ASKED_FOR_NUMBER);
    let spec = *call.digit_collections().last().unwrap();
    assert_eq!(
        spec,
        DigitCollection {
            max_digits: 10,
            inter_digit_timeout: Duration::from_secs(5),
            total_timeout: Duration::from_secs(20),
            terminator: Some('#'),
            restart: Some('*'),
        }
    );
}

#[test]
fn star_throws_away_what_was_typed() {
    let mut call = Call::new();
    call.run(ASKED_FOR_NUMBER).run(&[Press("55512*5550100001")]);
    assert_eq!(typed_lookups(&call), ["+15550100001"]);
    assert_eq!(call.flow.stage(), Stage::NumberLookup);
}

#[test]
fn tenth_digit_ends_the_entry_without_hash() {
    let mut call = Call::new();
    call.run(ASKED_FOR_NUMBER).run(&[Press("5550100001")]);
    assert_eq!(typed_lookups(&call), ["+15550100001"]);
    assert!(call.audits().contains(&AuditEvent::NumberEntered {
        attempt: 1,
        number: Some(crate::phone::E164::parse("+15550100001").unwrap()),
    }));
}

#[test]
fn hash_ends_a_short_entry_as_invalid() {
    let mut call = Call::new();
    call.run(ASKED_FOR_NUMBER).run(&[Press("5550100#")]);
    assert!(typed_lookups(&call).is_empty());
    assert_eq!(
        call.last_prompts(),
        [PromptId::NumberInvalid, PromptId::EnterNumber]
    );
    assert!(call.audits().contains(&AuditEvent::NumberEntered {
        attempt: 1,
        number: None
    }));
    assert_eq!(call.flow.stage(), Stage::NumberEntry);
}

#[test]
fn inter_digit_gap_ends_the_entry() {
    let mut call = Call::new();
    call.run(ASKED_FOR_NUMBER).run(&[Press("55501"), Wait(4)]);
    assert!(
        call.last.is_empty(),
        "4 s is within the inter-digit timeout"
    );
    call.run(&[Press("0"), Wait(4)]);
    assert!(call.last.is_empty(), "a key restarts the inter-digit timer");
    call.step(Wait(1));
    assert_eq!(
        call.last_prompts(),
        [PromptId::NumberInvalid, PromptId::EnterNumber]
    );
}

#[test]
fn total_timeout_caps_slow_typing() {
    let mut call = Call::new();
    call.run(ASKED_FOR_NUMBER);
    for _ in 0..4 {
        call.run(&[Press("5"), Wait(4)]);
        assert!(call.last.is_empty());
    }
    call.run(&[Press("5"), Wait(3)]);
    assert!(call.last.is_empty(), "19 s: still inside the total timeout");
    call.step(Wait(1));
    assert_eq!(
        call.last_prompts(),
        [PromptId::NumberInvalid, PromptId::EnterNumber]
    );
    assert_eq!(call.elapsed(), Duration::from_secs(20));
}

#[test]
fn typed_number_uses_the_configured_country() {
    let mut config = FlowConfig::default();
    config.numbering.country_code = CountryCode::parse("44").unwrap();
    let mut call = Call::with_config(config);
    call.run(ASKED_FOR_NUMBER).run(&[Press("2079460000")]);
    assert_eq!(typed_lookups(&call), ["+442079460000"]);
}

#[test]
fn attempts_count_invalid_and_unknown_numbers_alike() {
    let mut call = Call::new();
    call.run(ASKED_FOR_NUMBER)
        .run(&[Press("1#"), Played, Press("5550100009"), NotFound, Played]);
    assert_eq!(call.flow.stage(), Stage::NumberEntry);
    call.step(Press("#"));
    assert_eq!(
        call.transfers(),
        [(TransferTarget::Representative, AuthOutcome::NoAccount)]
    );
    let attempts: Vec<u32> = call
        .audits()
        .iter()
        .filter_map(|a| match a {
            AuditEvent::NumberEntered { attempt, .. } => Some(*attempt),
            _ => None,
        })
        .collect();
    assert_eq!(attempts, [1, 2, 3]);
}

#[test]
fn matched_number_is_announced_before_the_passphrase() {
    let mut call = Call::new();
    call.run(ASKED_FOR_NUMBER)
        .run(&[Press("5550100001"), Found]);
    assert_eq!(
        call.last_prompts(),
        [
            PromptId::NumberMatched,
            PromptId::PassphraseRequest,
            PromptId::Beep
        ]
    );
    assert!(call.audits().contains(&AuditEvent::NumberLookup {
        attempt: 1,
        number: crate::phone::E164::parse("+15550100001").unwrap(),
        result: LookupSummary::Found {
            account: nelson().id
        },
    }));
}
