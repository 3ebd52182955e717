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
            total_timeout: Duration::from_secs(60),
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
fn ten_digits_at_two_point_three_seconds_each_are_accepted() {
    let mut call = Call::new();
    call.run(ASKED_FOR_NUMBER).run(&[Wait(3)]);
    let keys = ["5", "5", "5", "0", "1", "0", "0", "0", "0", "1"];
    for (i, key) in keys.into_iter().enumerate() {
        if i > 0 {
            call.last.clear();
            call.advance(Duration::from_millis(2300));
            assert!(
                call.last.is_empty(),
                "no timeout while the caller types ({:?} in)",
                call.elapsed()
            );
        }
        call.step(Press(key));
    }
    assert_eq!(call.elapsed(), Duration::from_millis(3000 + 9 * 2300));
    assert_eq!(typed_lookups(&call), ["+15550100001"]);
    assert_eq!(call.flow.stage(), Stage::NumberLookup);
}

#[test]
fn total_timeout_caps_slow_typing() {
    let mut call = Call::new();
    call.run(ASKED_FOR_NUMBER).run(&[Wait(40)]);
    assert!(
        call.last.is_empty(),
        "before the first key only the total runs"
    );
    for _ in 0..9 {
        call.run(&[Press("5"), Wait(2)]);
        assert!(call.last.is_empty());
    }
    call.step(Wait(1));
    assert!(call.last.is_empty(), "59 s: still inside the total timeout");
    call.step(Wait(1));
    assert_eq!(
        call.last_prompts(),
        [PromptId::NumberInvalid, PromptId::EnterNumber]
    );
    assert_eq!(call.elapsed(), Duration::from_secs(60));
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
    call.step(Press("1#"));
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

fn barged_in(actions: &[Action]) -> bool {
    actions.iter().any(|a| matches!(a, Action::StopPrompts))
}

/// The lookup starts at the tenth digit and the next step's prompts are
/// queued before the caller's habitual `#` arrives: that `#` belongs to the
/// number, so it must neither cut them nor count as a key of what follows.
#[test]
fn a_hash_after_a_full_number_does_not_cut_the_passphrase_request() {
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
    call.advance(Duration::from_millis(200));
    call.step(Press("#"));
    assert!(call.last.is_empty(), "{:?}", call.last);
    assert_eq!(call.flow.stage(), Stage::Passphrase);
    // The listen timer starts when the request and beep have played, not
    // at the key.
    call.advance(Duration::from_secs(6));
    call.step(Played);
    let config = FlowConfig::default().passphrase;
    assert_eq!(
        call.flow.poll_timeout(),
        Some(call.now + config.listen_timeout + config.max_answer + config.listen_grace)
    );
    call.run(&[Say(&["하얀 말"]), Verify]);
    assert!(call
        .audits()
        .iter()
        .any(|a| matches!(a, AuditEvent::Authenticated { .. })));
}

/// When the next step collects keys too (the number was not found: type it
/// again), the trailing `#` is not an empty entry and cuts nothing; the
/// caller's next keys do.
#[test]
fn a_hash_after_a_full_number_is_not_the_first_key_of_the_retry() {
    let mut call = Call::new();
    call.run(ASKED_FOR_NUMBER)
        .run(&[Press("5550000000"), NotFound]);
    assert_eq!(
        call.last_prompts(),
        [PromptId::NumberNotFound, PromptId::EnterNumber]
    );
    call.advance(Duration::from_millis(200));
    call.step(Press("#"));
    assert!(call.last.is_empty(), "{:?}", call.last);
    call.step(Press("5"));
    assert!(barged_in(&call.last), "a key of the retry barges in");
    call.step(Press("550100001"));
    assert_eq!(typed_lookups(&call), ["+15550000000", "+15550100001"]);
    let entered = call
        .audits()
        .into_iter()
        .filter(|a| matches!(a, AuditEvent::NumberEntered { .. }))
        .count();
    assert_eq!(entered, 2, "the # was no entry of its own");
}

/// A `#` that ends a short entry is the entry's terminator, and a second
/// `#` is a key of whatever asks for keys next.
#[test]
fn only_the_terminator_right_after_a_full_entry_is_swallowed() {
    let mut call = Call::new();
    call.run(ASKED_FOR_NUMBER).run(&[Press("555#")]);
    assert_eq!(
        call.last_prompts(),
        [PromptId::NumberInvalid, PromptId::EnterNumber]
    );
    call.step(Press("#"));
    assert!(barged_in(&call.last), "{:?}", call.last);
    assert_eq!(
        call.last_prompts(),
        [PromptId::NumberInvalid, PromptId::EnterNumber],
        "an empty entry, the third attempt"
    );

    let mut late = Call::new();
    late.run(ASKED_FOR_NUMBER)
        .run(&[Press("5550000000"), NotFound]);
    late.advance(Duration::from_secs(6));
    late.step(Press("#"));
    assert!(
        late.audits()
            .iter()
            .any(|a| matches!(a, AuditEvent::NumberEntered { attempt: 2, .. })),
        "a # long after the number is the retry's terminator"
    );
}

/// Keys of the step asking for them cut its prompts; keys while the flow
/// waits for the store or listens for speech cut nothing.
#[test]
fn only_keys_of_the_step_collecting_them_barge_in() {
    let mut call = Call::new();
    call.run(&[Call(Some(CALLER)), Played, NotFound, Press("1")]);
    assert!(barged_in(&call.last), "1 answers the offer");
    call.step(Press("5"));
    assert!(barged_in(&call.last), "type-ahead over the number prompt");
    call.step(Press("55010000"));
    assert!(!barged_in(&call.last), "no prompt left to cut");
    call.step(Press("1"));
    assert_eq!(call.flow.stage(), Stage::NumberLookup);
    call.step(Press("7"));
    assert!(
        call.last.is_empty(),
        "a key while looking up: {:?}",
        call.last
    );
    call.step(Found);
    call.step(Press("7"));
    assert!(
        call.last.is_empty(),
        "a key over the passphrase request: {:?}",
        call.last
    );
}
