//! What peers and the machine do to a call: hold, a re-INVITE, barge-in,
//! prompts still rendering or failing to, the call's time limit, a media
//! failure, and time given out of order.

use std::time::Duration;

use auth::flow::{Event as FlowEvent, LookupResult, PromptId};
use media::MediaCommand;
use sip::{CallHandle, Event as SipEvent};

use super::super::core::*;
use super::*;
use crate::media_engine::CallMediaCommand;

#[test]
fn on_hold_the_flow_s_timers_stand_still_and_info_keys_are_not_input() {
    let mut call = Call::new(Some(CALLER));
    call.confirm()
        .hear_prompts()
        .answer(FlowEvent::AccountLookup(LookupResult::NotFound))
        .wait(Duration::from_millis(400));
    assert!(
        call.media.is_playing(),
        "the offer to type the number plays"
    );
    call.sip_event(SipEvent::MediaUpdated {
        call: CallHandle(1),
        media: Box::new(offer("0", "192.0.2.10", "sendonly")),
    });
    assert!(call
        .media_log
        .iter()
        .any(|c| matches!(c, CallMediaCommand::Session(MediaCommand::Hold(true)))));
    // Far beyond every timer of the step: nothing moves while held.
    let (played, refers) = (call.played.len(), call.refers().len());
    call.wait(Duration::from_secs(300));
    call.sip_event(SipEvent::InfoDigit {
        call: CallHandle(1),
        digit: sip::info_dtmf::InfoDigit {
            digit: '1',
            duration: None,
        },
    });
    call.wait(Duration::from_secs(1));
    assert_eq!((call.played.len(), call.refers().len()), (played, refers));
    assert!(!call.tallies.contains(&Tally::DigitByInfo));
    call.sip_event(SipEvent::MediaUpdated {
        call: CallHandle(1),
        media: Box::new(offer("0", "192.0.2.10", "sendrecv")),
    });
    assert!(matches!(
        call.media_log.last(),
        Some(CallMediaCommand::Session(MediaCommand::Renegotiated(_)))
    ));
    // The prompt goes on where it stood, and a key by INFO answers it now.
    call.hear_prompts();
    call.sip_event(SipEvent::InfoDigit {
        call: CallHandle(1),
        digit: sip::info_dtmf::InfoDigit {
            digit: '1',
            duration: None,
        },
    });
    call.hear_prompts();
    assert!(call.tallies.contains(&Tally::DigitByInfo));
    assert_eq!(call.played.last(), Some(&PromptId::EnterNumber));
    assert!(call.refers().is_empty());
}

#[test]
fn a_reinvite_moves_the_media_to_the_new_codec_and_address() {
    let mut call = Call::known_caller_at_the_beep();
    call.sip_event(SipEvent::MediaUpdated {
        call: CallHandle(1),
        media: Box::new(offer("8", "192.0.2.20", "sendrecv")),
    });
    let changes: Vec<_> = call.media_log.iter().rev().take(3).rev().collect();
    match changes[..] {
        [CallMediaCommand::RemoteMoved { rtp, .. }, CallMediaCommand::Session(MediaCommand::Hold(false)), CallMediaCommand::Session(MediaCommand::Renegotiated(config))] =>
        {
            assert_eq!(rtp.to_string(), "192.0.2.20:40000");
            assert_eq!(config.pacer.codec, media::G711::Alaw);
            assert_eq!(config.pacer.payload_type, 8);
            assert_eq!(
                config.receiver.sdp_source.map(|a| a.to_string()).as_deref(),
                Some("192.0.2.20:40000"),
                "the media learns the caller's source against the new address"
            );
        }
        _ => panic!("{changes:?}"),
    }
    // The call goes on: the passphrase said after the change is heard.
    call.say("하얀 말");
    assert!(matches!(call.next_work(), Work::VerifyPassphrase { .. }));
}

#[test]
fn a_key_that_answers_the_step_stops_the_prompt_unless_it_must_be_heard() {
    for (protected, stops) in [(&[][..], true), (&["number_not_recognized"][..], false)] {
        let mut call = Call::with(settings(protected, true), Some(CALLER));
        call.confirm()
            .hear_prompts()
            .answer(FlowEvent::AccountLookup(LookupResult::NotFound))
            .wait(Duration::from_millis(300));
        assert!(call.media.is_playing());
        let stopped_before = call
            .media_log
            .iter()
            .filter(|c| matches!(c, CallMediaCommand::Session(MediaCommand::Stop)))
            .count();
        call.press("1");
        let stopped = call
            .media_log
            .iter()
            .filter(|c| matches!(c, CallMediaCommand::Session(MediaCommand::Stop)))
            .count();
        assert_eq!(stopped > stopped_before, stops, "{protected:?}");
        // Either way the key is the answer: the number is asked for next.
        call.hear_prompts();
        assert_eq!(
            call.played.last(),
            Some(&PromptId::EnterNumber),
            "{protected:?}"
        );
    }
}

#[test]
fn a_prompt_being_rendered_holds_what_follows_and_a_failed_one_counts_as_heard() {
    let mut call = Call::new(Some(CALLER));
    call.cached = false;
    call.confirm();
    let greeting = call.renders.pop_front().expect("the greeting is rendered");
    assert!(call.work.is_empty(), "the lookup waits for the greeting");
    call.wait(Duration::from_secs(3));
    assert!(call.work.is_empty());
    call.cached = true;
    call.render(greeting);
    call.pump();
    call.hear_prompts();
    assert!(matches!(call.next_work(), Work::LookupAccount { .. }));
    call.cached = false;
    call.core.handle_background(
        call.now,
        Background::Flow(FlowEvent::AccountLookup(LookupResult::NotFound)),
    );
    call.pump();
    let offer = call.renders.pop_front().expect("the offer is rendered");
    call.core.handle_background(
        call.now,
        Background::Rendered(offer, Err(anyhow::anyhow!("espeak-ng failed"))),
    );
    call.pump();
    assert!(!call.media.is_playing(), "nothing to play");
    // The flow went on to collect the answer as if it had been heard.
    call.cached = true;
    call.press("1").hear_prompts();
    assert_eq!(call.played.last(), Some(&PromptId::EnterNumber));
}

#[test]
fn the_call_is_hung_up_at_its_maximum_duration() {
    let mut s = settings(&[], true);
    s.max_duration = Duration::from_secs(3);
    let mut call = Call::with(s, Some(CALLER));
    call.confirm().hear_prompts();
    call.wait(Duration::from_millis(1999));
    assert_eq!(call.core.outcome(), None);
    call.wait(Duration::from_millis(1));
    assert_eq!(call.core.outcome(), Some(CallOutcome::AgentHungUp));
    assert_eq!(call.sip, [(Duration::from_secs(3), SipCommand::Hangup)]);
}

#[test]
fn a_media_failure_hangs_up_and_without_a_recognizer_the_turn_times_out() {
    let mut call = Call::with(settings(&[], false), Some(CALLER));
    call.confirm()
        .hear_prompts()
        .answer(FlowEvent::AccountLookup(LookupResult::Found(nelson())))
        .hear_prompts();
    assert!(!call.listening, "no speech model, no turn");
    // The flow's listen timeout moves the caller on to the SMS code.
    call.wait(Duration::from_secs(20));
    assert!(matches!(call.next_work(), Work::SendCode { .. }));
    call.core.handle_media_failed(call.now);
    call.pump();
    assert_eq!(call.core.outcome(), Some(CallOutcome::AgentHungUp));
    assert_eq!(call.hangups(), 1);
}

#[test]
fn time_given_out_of_order_never_runs_backwards() {
    let mut call = Call::new(Some(CALLER));
    call.confirm().wait(Duration::from_secs(5));
    let due = call.core.poll_timeout().unwrap();
    // An earlier reading is taken as the latest: nothing falls due twice or early.
    call.core.handle_timeout(call.t0);
    call.pump();
    assert_eq!(call.core.poll_timeout(), Some(due));
    assert_eq!(call.core.outcome(), None);
}
