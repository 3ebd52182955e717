//! The SMS code: where it goes, how long it lives, how it is typed, and
//! that it never shows up where it should not.

use std::time::Duration;

use super::harness::*;
use crate::flow::*;
use crate::otp::test_sources::Fixed;

fn send_code_action(call: &Call) -> (String, AccountId) {
    call.log
        .iter()
        .find_map(|a| match a {
            Action::SendCode { to, account, .. } => {
                Some((to.as_str().to_string(), account.clone()))
            }
            _ => None,
        })
        .expect("no SendCode")
}

fn long_entry() -> FlowConfig {
    let mut config = FlowConfig::default();
    config.code.total_timeout = Duration::from_secs(300);
    config
}

#[test]
fn code_goes_to_the_number_on_file_not_the_calling_number() {
    let mut call = Call::new();
    call.run(TYPED_CALLER).run(&[Say(&["하얀 소"]), Verify]);
    let (to, account) = send_code_action(&call);
    assert_eq!(to, ON_FILE);
    assert_ne!(to, CALLER);
    assert_eq!(account, nelson().id);
    assert!(call.audits().contains(&AuditEvent::CodeSend {
        account: nelson().id,
        to: crate::phone::E164::parse(ON_FILE).unwrap(),
        result: SendResult::Requested,
    }));
}

#[test]
fn code_length_follows_the_policy() {
    for length in [4, 6] {
        let mut config = FlowConfig::default();
        config.code.policy.length = length;
        let mut call = Call::with_config(config);
        call.run(CODE_SENT);
        let code = call.sent_code().unwrap();
        assert_eq!(code.len(), length);
        assert!(code.bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(call.digit_collections().last().unwrap().max_digits, length);
    }
}

#[test]
fn code_is_accepted_just_before_sixty_seconds() {
    let mut call = Call::with_config(long_entry());
    call.run(CODE_SENT).run(&[Wait(59), RightCode]);
    assert_eq!(call.last_prompts()[0], PromptId::WelcomeAfterCode);
    assert_eq!(call.flow.stage(), Stage::Menu);
}

#[test]
fn code_expires_at_sixty_seconds_without_any_key() {
    let mut call = Call::with_config(long_entry());
    call.run(CODE_SENT).run(&[Wait(59)]);
    assert!(call.last.is_empty());
    call.step(Wait(1));
    assert_eq!(call.elapsed(), Duration::from_secs(60));
    assert_eq!(
        call.last_prompts(),
        [
            PromptId::CodeExpired,
            PromptId::TransferringToRepresentative
        ]
    );
    assert!(call.audits().contains(&AuditEvent::CodeChecked {
        account: nelson().id,
        result: CodeResult::Expired,
    }));
    assert_eq!(
        call.transfers(),
        [(TransferTarget::Representative, AuthOutcome::Failed)]
    );
}

#[test]
fn expiry_counts_from_issue_even_while_the_gateway_is_slow() {
    let mut call = Call::with_config(long_entry());
    call.run(KNOWN_CALLER)
        .run(&[Say(&["하얀 소"]), Verify, Wait(14), Sent, Played, Wait(45)]);
    assert_eq!(call.flow.stage(), Stage::CodeEntry);
    call.step(Wait(1));
    assert_eq!(call.flow.stage(), Stage::Transferring);
}

#[test]
fn star_restarts_and_hash_ends_the_code_early() {
    let mut call = Call::new();
    call.run(CODE_SENT).run(&[Press("98*"), RightCode]);
    assert_eq!(
        call.flow.stage(),
        Stage::Menu,
        "* threw the wrong keys away"
    );

    let mut call = Call::new();
    call.run(CODE_SENT).run(&[Press("12#")]);
    assert_eq!(call.last_prompts(), [PromptId::CodeWrong]);
    assert!(call.audits().contains(&AuditEvent::CodeChecked {
        account: nelson().id,
        result: CodeResult::Rejected { tries_left: 2 },
    }));
}

#[test]
fn each_wrong_entry_uses_a_try() {
    let mut call = Call::new();
    call.run(CODE_SENT)
        .run(&[WrongCode, Played, WrongCode, Played, WrongCode]);
    let results: Vec<CodeResult> = call
        .audits()
        .iter()
        .filter_map(|a| match a {
            AuditEvent::CodeChecked { result, .. } => Some(*result),
            _ => None,
        })
        .collect();
    assert_eq!(
        results,
        [
            CodeResult::Rejected { tries_left: 2 },
            CodeResult::Rejected { tries_left: 1 },
            CodeResult::Exhausted
        ]
    );
    call.step(RightCode);
    assert!(call.last.is_empty(), "the code is void after the last try");
}

#[test]
fn an_empty_entry_timing_out_uses_a_try() {
    let mut call = Call::new();
    call.run(CODE_SENT).run(&[Wait(45)]);
    assert_eq!(call.last_prompts(), [PromptId::CodeWrong]);
    assert!(call.audits().contains(&AuditEvent::CodeChecked {
        account: nelson().id,
        result: CodeResult::Rejected { tries_left: 2 },
    }));
}

#[test]
fn no_entropy_means_no_code_and_an_error_transfer() {
    let mut call = Call::without_entropy();
    call.run(KNOWN_CALLER).run(&[Say(&["하얀 소"]), Verify]);
    assert!(call.sent_code().is_none());
    assert!(call.audits().contains(&AuditEvent::CodeSend {
        account: nelson().id,
        to: crate::phone::E164::parse(ON_FILE).unwrap(),
        result: SendResult::NotGenerated,
    }));
    assert_eq!(
        call.transfers(),
        [(TransferTarget::Representative, AuthOutcome::Error)]
    );
}

#[test]
fn the_code_never_appears_outside_the_send_action() {
    // 98, 99, 198 give the digits 8, 9, 8: the code is "8989", a string no
    // number, amount or duration in this call contains.
    let source = Box::new(Fixed(vec![98, 99, 198, 99]));
    let mut call = Call::with_source(FlowConfig::default(), source);
    call.run(CODE_SENT)
        .run(&[WrongCode, Played, RightCode, Played, Press("0")]);
    let code = call.sent_code().unwrap();
    assert_eq!(code, "8989");
    for action in &call.log {
        let shown = format!("{action:?}");
        assert!(!shown.contains(&code), "{shown}");
        if let Action::Audit(row) = action {
            let json = serde_json::to_string(row).unwrap();
            assert!(!json.contains(&code), "{json}");
        }
    }
    assert!(!format!("{:?}", call.flow).contains(&code));
}

#[test]
fn gateway_answers_after_the_transfer_are_ignored() {
    let mut call = Call::new();
    call.run(KNOWN_CALLER)
        .run(&[Say(&["하얀 소"]), Verify, SendFailed, Sent]);
    assert!(call.last.is_empty());
    assert_eq!(
        call.transfers(),
        [(TransferTarget::Representative, AuthOutcome::Error)]
    );
}
