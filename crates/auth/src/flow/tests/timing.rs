//! Time as input: prompts gate the timers, late events meet timers that
//! were already due, early polls do nothing.

use std::time::Duration;

use super::harness::*;
use crate::flow::*;

const OFFERED: &[Step] = &[Call(Some(CALLER)), Played, NotFound];

#[test]
fn input_timers_wait_for_the_prompt_to_finish() {
    let mut call = Call::new();
    call.run(OFFERED).run(&[Wait(30)]);
    assert_eq!(call.flow.stage(), Stage::OfferTypedNumber);
    call.run(&[Played, Wait(7)]);
    assert_eq!(call.flow.stage(), Stage::OfferTypedNumber);
    call.step(Wait(1));
    assert_eq!(
        call.transfers(),
        [(TransferTarget::Representative, AuthOutcome::NoAccount)]
    );
}

#[test]
fn a_prompt_that_never_reports_its_end_stops_blocking_after_the_guard() {
    let mut call = Call::new();
    call.run(OFFERED);
    assert_eq!(
        call.flow.poll_timeout(),
        Some(call.now + Duration::from_secs(60))
    );
    call.step(Wait(67));
    assert_eq!(call.flow.stage(), Stage::OfferTypedNumber);
    call.step(Wait(1));
    assert_eq!(call.flow.stage(), Stage::Transferring);
    assert_eq!(call.elapsed(), Duration::from_secs(68));
}

#[test]
fn an_earlier_prompt_finishing_does_not_start_the_timers() {
    let mut call = Call::new();
    call.step(Call(Some(CALLER)));
    let greeting = call.last_playback().unwrap();
    call.step(NotFound);
    call.event(Event::PromptFinished(greeting));
    call.step(Wait(30));
    assert_eq!(
        call.flow.stage(),
        Stage::OfferTypedNumber,
        "offer prompt still playing"
    );
}

#[test]
fn a_key_during_the_prompt_is_taken() {
    let mut call = Call::new();
    call.run(OFFERED).run(&[Press("1")]);
    assert_eq!(call.flow.stage(), Stage::NumberEntry);
}

#[test]
fn an_event_after_a_missed_deadline_meets_the_timer_first() {
    let mut call = Call::new();
    call.run(IN_MENU);
    // The driver was late: no handle_timeout before the key arrives.
    call.now += Duration::from_secs(11);
    call.step(Press("1"));
    assert_eq!(call.last_prompts(), [PromptId::Goodbye]);
    assert!(!call.prompts().contains(&PromptId::Balance));
}

#[test]
fn polling_before_the_deadline_does_nothing() {
    let mut call = Call::new();
    call.run(IN_MENU);
    let deadline = call.flow.poll_timeout().unwrap();
    let early = call
        .flow
        .handle_timeout(deadline - Duration::from_millis(1));
    assert!(early.is_empty());
    let due = call.flow.handle_timeout(deadline);
    assert!(prompt_ids(&due).contains(&PromptId::Goodbye));
}

#[test]
fn waiting_on_nothing_has_no_deadline() {
    let mut call = Call::new();
    assert_eq!(call.flow.poll_timeout(), None);
    call.run(&[Call(Some(CALLER)), Played, Locked]);
    assert_eq!(
        call.flow.poll_timeout(),
        None,
        "transferring waits for the SIP side"
    );
}

#[test]
fn a_whole_call_with_a_minute_of_waiting_runs_instantly() {
    let started = std::time::Instant::now();
    let mut call = Call::new();
    call.run(CODE_SENT).run(&[Wait(61)]);
    assert_eq!(call.flow.stage(), Stage::Transferring);
    assert!(call.elapsed() >= Duration::from_secs(61));
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn an_unusable_configuration_is_refused() {
    let mut config = FlowConfig::default();
    config.code.policy.max_tries = 0;
    assert!(matches!(
        Flow::new(config),
        Err(FlowConfigError::CodePolicy(_))
    ));
    assert!(Flow::new(FlowConfig::default()).is_ok());
}

#[test]
fn flow_config_loads_from_toml_and_drives_the_flow() {
    let config: FlowConfig = toml::from_str(
        r#"
        [offer]
        accept_key = "9"
        timeout = "3s"
        "#,
    )
    .unwrap();
    let mut call = Call::with_config(config);
    call.run(OFFERED).run(&[Played, Press("1")]);
    assert_eq!(
        call.transfers(),
        [(TransferTarget::Representative, AuthOutcome::NoAccount)]
    );

    let config: FlowConfig =
        toml::from_str("[offer]\naccept_key = \"9\"\ntimeout = \"3s\"").unwrap();
    let mut call = Call::with_config(config);
    call.run(OFFERED).run(&[Played, Wait(3)]);
    assert_eq!(call.flow.stage(), Stage::Transferring);
}

#[test]
fn a_flow_can_move_between_threads() {
    fn assert_send<T: Send>() {}
    assert_send::<Flow>();
    assert_send::<Action>();
    assert_send::<Event>();
}
