//! Every branch of the seed's flow, and a caller hanging up at each step.

use std::time::Duration;

use auth::flow::{AuditEvent, Event as FlowEvent, LookupResult, PassphraseCheck, PromptId, Stage};
use sip::{EndReason, ReferStatus};

use super::super::core::*;
use super::*;
use crate::media_engine::CallMediaCommand;

#[test]
fn a_known_caller_says_the_passphrase_presses_zero_and_is_transferred_verified() {
    let mut call = Call::new(Some(CALLER));
    assert!(call.played.is_empty(), "nothing plays before the ACK");
    assert!(call.work.is_empty(), "the lookup waits behind the greeting");
    call.wait(Duration::from_secs(2));
    assert!(call.played.is_empty(), "still no ACK, still nothing");
    call.confirm();
    assert_eq!(call.played, [PromptId::Greeting]);
    call.hear_prompts();
    match call.next_work() {
        Work::LookupAccount { number, caller } => {
            assert_eq!(number.as_str(), CALLER);
            assert_eq!(caller.unwrap().as_str(), CALLER);
        }
        other => panic!("{other:?}"),
    }
    call.core.handle_background(
        call.now,
        Background::Flow(FlowEvent::AccountLookup(LookupResult::Found(nelson()))),
    );
    call.pump();
    assert!(!call.listening, "listening waits for the prompts before it");
    call.hear_prompts();
    assert!(call.listening);
    assert_eq!(
        call.prepared,
        [(
            PromptId::WelcomeAfterPassphrase,
            format!("{} welcome back.", nelson().name)
        )],
        "the welcome with the caller's name is rendered while they speak"
    );
    call.say("하얀 말");
    assert!(!call.listening);
    assert!(matches!(call.next_work(), Work::VerifyPassphrase { .. }));
    call.core.handle_background(
        call.now,
        Background::Flow(FlowEvent::PassphraseChecked(PassphraseCheck::Match)),
    );
    call.pump();
    call.hear_prompts().press("0").hear_prompts();
    assert_eq!(
        call.played,
        [
            PromptId::Greeting,
            PromptId::PassphraseRequest,
            PromptId::Beep,
            PromptId::WelcomeAfterPassphrase,
            PromptId::Menu,
            PromptId::TransferringToAgent,
        ]
    );
    assert_eq!(
        call.refers(),
        ["sip:agents@pbx.example?X-Passgate-Auth=verified&X-Passgate-Account=acct-1"]
    );
    assert_eq!(call.core.outcome(), None, "waiting for the NOTIFY");
    call.refer(ReferStatus::Accepted)
        .refer(ReferStatus::Completed(200));
    assert_eq!(
        call.core.outcome(),
        Some(CallOutcome::Transferred("verified"))
    );
    assert_eq!(call.hangups(), 1);
    assert!(call
        .tallies
        .contains(&Tally::Recognition(Duration::from_millis(40))));
    assert!(call.tallies.contains(&Tally::Transfer {
        outcome: "verified",
        completed: true
    }));
    assert!(call
        .audit
        .iter()
        .any(|row| matches!(row, AuditEvent::Authenticated { .. })));
    assert_eq!(
        call.core.poll_timeout(),
        None,
        "an ended call needs no timer"
    );
}

#[test]
fn a_wrong_passphrase_then_the_sms_code_authenticates_the_caller() {
    let mut call = Call::known_caller_at_the_beep();
    call.say("하얀 소")
        .answer(FlowEvent::PassphraseChecked(PassphraseCheck::NoMatch));
    let code = match call.next_work() {
        Work::SendCode { to, account, code } => {
            assert_eq!((to.as_str(), account.0.as_str()), (ON_FILE, "acct-1"));
            code.expose().to_string()
        }
        other => panic!("{other:?}"),
    };
    call.core
        .handle_background(call.now, Background::Flow(FlowEvent::CodeSent));
    call.pump();
    call.hear_prompts().press(&code).hear_prompts().press("0");
    call.hear_prompts();
    assert_eq!(
        call.played[3..],
        [
            PromptId::PassphraseFailed,
            PromptId::EnterCode,
            PromptId::WelcomeAfterCode,
            PromptId::Menu,
            PromptId::TransferringToAgent,
        ]
    );
    assert_eq!(
        call.refers(),
        ["sip:agents@pbx.example?X-Passgate-Auth=verified&X-Passgate-Account=acct-1"]
    );
    call.refer(ReferStatus::Completed(200));
    assert_eq!(
        call.core.outcome(),
        Some(CallOutcome::Transferred("verified"))
    );
}

#[test]
fn a_wrong_passphrase_and_wrong_codes_go_to_a_representative_as_failed() {
    let mut call = Call::known_caller_at_the_beep();
    call.say("하얀 소")
        .answer(FlowEvent::PassphraseChecked(PassphraseCheck::NoMatch))
        .answer(FlowEvent::CodeSent)
        .hear_prompts();
    for _ in 0..3 {
        call.press("000000#").hear_prompts();
    }
    assert_eq!(
        call.refers(),
        ["sip:rep@pbx.example?X-Passgate-Auth=failed"]
    );
    assert_eq!(
        call.played.last(),
        Some(&PromptId::TransferringToRepresentative)
    );
    call.refer(ReferStatus::Completed(200));
    assert_eq!(
        call.core.outcome(),
        Some(CallOutcome::Transferred("failed"))
    );
}

#[test]
fn an_unknown_number_types_the_account_number_then_says_the_passphrase() {
    let mut call = Call::new(Some(CALLER));
    call.confirm()
        .hear_prompts()
        .answer(FlowEvent::AccountLookup(LookupResult::NotFound))
        .hear_prompts()
        .press("1")
        .hear_prompts()
        .press("5550100001");
    match call.next_work() {
        Work::LookupAccount { number, .. } => assert_eq!(number.as_str(), "+15550100001"),
        other => panic!("{other:?}"),
    }
    call.core.handle_background(
        call.now,
        Background::Flow(FlowEvent::AccountLookup(LookupResult::Found(nelson()))),
    );
    call.pump();
    let stops = |call: &Call| {
        call.media_log
            .iter()
            .filter(|c| matches!(c, CallMediaCommand::Session(media::MediaCommand::Stop)))
            .count()
    };
    let stopped = stops(&call);
    // The `#` that ends a full number comes late, over the next prompts:
    // it answers nothing there and cuts nothing.
    call.press("#");
    assert!(call.media.is_playing());
    call.hear_prompts();
    assert_eq!(stops(&call), stopped);
    assert!(call.listening, "the passphrase turn is open");
    assert_eq!(
        call.played,
        [
            PromptId::Greeting,
            PromptId::NumberNotRecognized,
            PromptId::EnterNumber,
            PromptId::NumberMatched,
            PromptId::PassphraseRequest,
            PromptId::Beep,
        ]
    );
}

#[test]
fn an_unknown_caller_who_presses_nothing_is_referred_to_a_representative_as_no_account() {
    let mut call = Call::new(None);
    call.confirm().hear_prompts();
    assert!(call.work.is_empty(), "a withheld number is not looked up");
    call.until_referred();
    assert_eq!(
        call.refers(),
        ["sip:rep@pbx.example?X-Passgate-Auth=no-account"]
    );
    call.ended(EndReason::RemoteBye);
    assert_eq!(
        call.core.outcome(),
        Some(CallOutcome::Transferred("caller-left")),
        "the caller's side left during the transfer"
    );
}

#[test]
fn a_refused_transfer_is_announced_recorded_and_the_call_ended() {
    let mut call = Call::new(None);
    call.confirm().until_referred();
    assert_eq!(call.refers().len(), 1);
    call.refer(ReferStatus::Rejected(603));
    assert_eq!(call.core.outcome(), None, "the failure is announced first");
    assert!(call.tallies.contains(&Tally::Transfer {
        outcome: "no-account",
        completed: false
    }));
    call.hear_prompts();
    assert_eq!(call.played.last(), Some(&PromptId::TransferFailed));
    assert!(call
        .audit
        .iter()
        .any(|row| matches!(row, AuditEvent::TransferFailed { .. })));
    assert_eq!(call.hangups(), 1, "BYE after the announcement");
    assert!(matches!(
        call.core.outcome(),
        Some(CallOutcome::TransferFailed | CallOutcome::AgentHungUp)
    ));
}

#[test]
fn a_transfer_without_a_final_notify_fails_after_thirty_seconds() {
    let mut call = Call::new(None);
    call.confirm().until_referred();
    let referred = call.now;
    call.refer(ReferStatus::Accepted)
        .refer(ReferStatus::Progress(180));
    call.wait(TRANSFER_TIMEOUT - Duration::from_millis(1));
    assert!(!call.played.contains(&PromptId::TransferFailed));
    call.wait(Duration::from_millis(1));
    assert_eq!(call.now - referred, TRANSFER_TIMEOUT);
    assert_eq!(call.played.last(), Some(&PromptId::TransferFailed));
    call.hear_prompts();
    assert_eq!(call.hangups(), 1);
    assert!(call.core.outcome().is_some());
}

#[test]
fn a_refer_answered_481_ends_the_call_without_a_prompt_or_a_bye() {
    let mut call = Call::new(None);
    call.confirm().until_referred();
    let played = call.played.len();
    call.ended(EndReason::DialogGone);
    assert_eq!(call.core.outcome(), Some(CallOutcome::DialogGone));
    assert_eq!(call.hangups(), 0);
    call.wait(Duration::from_secs(5));
    assert_eq!(call.played.len(), played);
    assert!(call.tallies.contains(&Tally::Transfer {
        outcome: "no-account",
        completed: false
    }));
}

/// The steps of a known caller's call up to the transfer, each a point at
/// which the caller may hang up.
fn verified_call_steps() -> Vec<fn(&mut Call)> {
    vec![
        |c| {
            c.confirm();
        },
        |c| {
            c.wait(Duration::from_millis(500));
        },
        |c| {
            c.hear_prompts();
        },
        |c| {
            c.answer(FlowEvent::AccountLookup(LookupResult::Found(nelson())));
        },
        |c| {
            c.wait(Duration::from_millis(1500));
        },
        |c| {
            c.hear_prompts();
        },
        |c| {
            c.say("하얀 말");
        },
        |c| {
            c.answer(FlowEvent::PassphraseChecked(PassphraseCheck::Match));
        },
        |c| {
            c.hear_prompts();
        },
        |c| {
            c.press("1");
        },
        |c| {
            c.hear_prompts().press("0");
        },
    ]
}

#[test]
fn a_hang_up_at_every_step_ends_the_call_once_and_records_where() {
    let steps = verified_call_steps();
    for upto in 0..=steps.len() {
        let mut call = Call::new(Some(CALLER));
        for step in &steps[..upto] {
            step(&mut call);
        }
        assert_eq!(call.core.outcome(), None, "step {upto}");
        let transferring = !call.refers().is_empty();
        call.ended(EndReason::RemoteBye);
        let expected = if transferring {
            CallOutcome::Transferred("caller-left")
        } else {
            CallOutcome::CallerHungUp
        };
        assert_eq!(call.core.outcome(), Some(expected), "step {upto}");
        assert!(
            matches!(call.audit.last(), Some(AuditEvent::CallerHungUp { .. })),
            "step {upto}: {:?}",
            call.audit.last()
        );
        let (played, commands) = (call.played.len(), call.media_log.len());
        call.wait(Duration::from_secs(120));
        assert_eq!(
            call.hangups(),
            0,
            "step {upto}: no BYE to a caller who left"
        );
        assert_eq!(
            call.played.len(),
            played,
            "step {upto}: nothing plays after"
        );
        assert_eq!(call.media_log.len(), commands, "step {upto}");
    }
}

#[test]
fn a_hang_up_mid_prompt_is_recorded_at_the_step_it_interrupted() {
    let mut call = Call::known_caller_at_the_beep();
    call.say("하얀 말")
        .answer(FlowEvent::PassphraseChecked(PassphraseCheck::Match));
    call.wait(Duration::from_millis(300));
    assert!(call.media.is_playing(), "the welcome plays");
    call.ended(EndReason::RemoteBye);
    assert_eq!(call.core.outcome(), Some(CallOutcome::CallerHungUp));
    match call.audit.last() {
        Some(AuditEvent::CallerHungUp { account, stage }) => {
            assert_eq!(account.as_ref().map(|a| a.0.as_str()), Some("acct-1"));
            assert_eq!(*stage, Stage::Menu, "the welcome leads to the menu");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_session_the_caller_stopped_refreshing_ends_the_flow_as_session_expired() {
    let mut call = Call::new(Some(CALLER));
    call.confirm().hear_prompts();
    let played = call.played.len();
    call.ended(EndReason::SessionExpired);
    assert_eq!(call.core.outcome(), Some(CallOutcome::SessionExpired));
    call.wait(Duration::from_secs(20));
    assert_eq!(call.played.len(), played, "nothing plays after the BYE");
    assert_eq!(call.hangups(), 0, "the endpoint sent the BYE");
}

#[test]
fn a_call_never_acknowledged_hears_nothing_and_ends_as_no_ack() {
    let mut call = Call::new(Some(CALLER));
    call.wait(Duration::from_secs(32));
    call.ended(EndReason::AckTimeout);
    assert_eq!(call.core.outcome(), Some(CallOutcome::NoAck));
    assert!(call.played.is_empty());
    assert!(call.media_log.is_empty());
}

#[test]
fn the_time_from_the_passphrase_to_the_reply_is_told_by_stage() {
    let mut call = Call::new(Some(CALLER));
    call.confirm().hear_prompts();
    call.next_work();
    call.core.handle_background(
        call.now,
        Background::Flow(FlowEvent::AccountLookup(LookupResult::Found(nelson()))),
    );
    call.pump();
    call.hear_prompts();
    call.say("하얀 말");
    assert!(
        !call.tallies.iter().any(|t| matches!(t, Tally::Decision(_))),
        "no reply has played yet"
    );
    // Argon2 takes 30 ms.
    call.wait(Duration::from_millis(30));
    call.core.handle_background(
        call.now,
        Background::Flow(FlowEvent::PassphraseChecked(PassphraseCheck::Match)),
    );
    call.pump();
    let decisions: Vec<&DecisionLatency> = call
        .tallies
        .iter()
        .filter_map(|t| match t {
            Tally::Decision(d) => Some(d),
            _ => None,
        })
        .collect();
    let ms = Duration::from_millis;
    assert_eq!(
        decisions,
        [&DecisionLatency {
            end_pointing: ms(280),
            final_decode: ms(15),
            delivery: ms(5),
            check: ms(30),
            render: ms(0),
            pacer_start: ms(0),
            total: ms(330),
        }],
        "the welcome starts as the check answers"
    );
    call.hear_prompts().press("0").hear_prompts();
    assert_eq!(
        call.tallies
            .iter()
            .filter(|t| matches!(t, Tally::Decision(_)))
            .count(),
        1,
        "later prompts are no decision's reply"
    );
}

#[test]
fn a_turn_that_ends_without_a_result_moves_the_caller_on_to_the_sms_code() {
    // A recognizer turn that panicked closes its events without a result.
    let mut call = Call::known_caller_at_the_beep();
    assert!(call.listening);
    call.core
        .handle_recognizer(call.now, RecognizerInput::Closed);
    call.pump();
    assert!(
        !call.listening,
        "the audio stops going to a turn that has ended"
    );
    // At once: the caller does not speak into the listen timeout.
    match call.next_work() {
        Work::SendCode { to, .. } => assert_eq!(to.as_str(), ON_FILE),
        other => panic!("{other:?}"),
    }
    assert_eq!(call.played.last(), Some(&PromptId::PassphraseFailed));
}

#[test]
fn a_turn_the_recognizer_has_no_room_for_moves_the_caller_on_to_the_sms_code() {
    let mut call = Call::known_caller_at_the_beep();
    call.core
        .handle_recognizer(call.now, RecognizerInput::Unavailable);
    call.pump();
    assert!(!call.listening);
    match call.next_work() {
        Work::SendCode { to, .. } => assert_eq!(to.as_str(), ON_FILE),
        other => panic!("{other:?}"),
    }
    assert!(call
        .tallies
        .iter()
        .any(|t| matches!(t, Tally::RecognizerBusy)));
}
