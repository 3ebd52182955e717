//! The passphrase step as the driver sees it: what is listened for, what is
//! handed over for verification, how silence and impostors end.

use std::time::Duration;

use super::harness::*;
use crate::flow::*;

#[test]
fn listens_with_the_full_vocabulary_by_default() {
    let mut call = Call::new();
    call.run(KNOWN_CALLER);
    assert_eq!(
        call.listens(),
        [ListenRequest {
            vocabulary: ListenWords::Full,
            // Eight seconds to begin, five more to finish.
            timeout: Duration::from_secs(8),
            max_duration: Duration::from_secs(13),
            purpose: ListenPurpose::Passphrase,
            // The account's passphrase has two words: the turn may end early.
            expected_words: Some(2),
        }]
    );
}

#[test]
fn listens_with_a_configured_word_list() {
    let mut config = FlowConfig::default();
    config.passphrase.vocabulary = Some(vec!["하얀".into(), "말".into(), "바다".into()]);
    let mut call = Call::with_config(config);
    call.run(KNOWN_CALLER);
    assert_eq!(
        call.listens()[0].vocabulary,
        ListenWords::Words(vec!["하얀".into(), "말".into(), "바다".into()])
    );
}

#[test]
fn beep_can_be_turned_off() {
    let mut config = FlowConfig::default();
    config.passphrase.beep = false;
    let mut call = Call::with_config(config);
    call.run(&[Call(Some(CALLER)), Played, Found]);
    assert_eq!(call.last_prompts(), [PromptId::PassphraseRequest]);
}

#[test]
fn hands_every_alternative_to_verification() {
    let mut call = Call::new();
    call.run(KNOWN_CALLER)
        .run(&[Say(&["하얀 소", "하얀 말", "바다"])]);
    let [Action::VerifyPassphrase {
        account,
        alternatives,
    }] = call.last.as_slice()
    else {
        panic!("expected one verification, got {:?}", call.last);
    };
    assert_eq!(account, &nelson().id);
    assert_eq!(
        alternatives.texts().collect::<Vec<_>>(),
        ["하얀 소", "하얀 말", "바다"]
    );
    assert_eq!(call.flow.stage(), Stage::PassphraseCheck);
}

#[test]
fn an_impostor_gets_the_code_not_the_account() {
    let mut call = Call::new();
    call.run(KNOWN_CALLER)
        .run(&[Say(&["하얀 소", "검은 말", "말 하얀"]), Verify]);
    assert!(call.audits().contains(&AuditEvent::PassphraseChecked {
        account: nelson().id,
        result: PassphraseResult::NoMatch,
    }));
    assert_eq!(call.flow.stage(), Stage::SendingCode);
    assert!(!call
        .audits()
        .iter()
        .any(|a| matches!(a, AuditEvent::Authenticated { .. })));
}

#[test]
fn silence_is_audited_as_silence() {
    let mut call = Call::new();
    call.run(KNOWN_CALLER).run(&[Say(&[])]);
    assert!(call.audits().contains(&AuditEvent::PassphraseChecked {
        account: nelson().id,
        result: PassphraseResult::Silence,
    }));
    assert!(!call
        .last
        .iter()
        .any(|a| matches!(a, Action::VerifyPassphrase { .. })));
}

#[test]
fn a_turn_nobody_can_hear_goes_on_to_the_code_at_once_and_is_audited_as_such() {
    let mut call = Call::new();
    call.run(KNOWN_CALLER).run(&[RecognizerFailed]);
    assert_eq!(
        call.flow.stage(),
        Stage::SendingCode,
        "no listen timeout to sit out"
    );
    assert!(call.stopped_listening());
    assert!(call.audits().contains(&AuditEvent::PassphraseChecked {
        account: nelson().id,
        result: PassphraseResult::Unavailable,
    }));
    assert!(prompt_ids(&call.last).contains(&PromptId::PassphraseFailed));
}

#[test]
fn listen_timer_starts_when_the_beep_has_played() {
    let mut call = Call::new();
    call.run(&[Call(Some(CALLER)), Played, Found, Wait(30)]);
    assert_eq!(call.flow.stage(), Stage::Passphrase, "prompt still playing");
    // 8 s to begin, 5 s to finish, 2 s for the result.
    call.run(&[Played, Wait(14)]);
    assert_eq!(call.flow.stage(), Stage::Passphrase);
    call.step(Wait(1));
    assert_eq!(call.flow.stage(), Stage::SendingCode);
    assert!(call.stopped_listening());
    assert!(call.audits().contains(&AuditEvent::PassphraseChecked {
        account: nelson().id,
        result: PassphraseResult::Silence,
    }));
}

#[test]
fn late_transcript_after_the_listen_timeout_is_ignored() {
    let mut call = Call::new();
    call.run(KNOWN_CALLER).run(&[Wait(15), Say(&["하얀 말"])]);
    assert!(call.last.is_empty(), "{:?}", call.last);
    assert_eq!(call.flow.stage(), Stage::SendingCode);
}

#[test]
fn verification_timeout_is_audited() {
    let mut call = Call::new();
    call.run(KNOWN_CALLER).run(&[Say(&["하얀 말"]), Wait(10)]);
    assert!(call.audits().contains(&AuditEvent::PassphraseChecked {
        account: nelson().id,
        result: PassphraseResult::TimedOut,
    }));
    call.step(Verify);
    assert!(call.last.is_empty(), "a late verdict must not authenticate");
    assert_eq!(call.flow.stage(), Stage::SendingCode);
}
