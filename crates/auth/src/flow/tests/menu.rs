//! The authenticated menu: DTMF 1 and spoken "one" are the same choice.

use std::time::Duration;

use super::harness::*;
use crate::flow::*;

fn menu_choices(call: &Call) -> Vec<(MenuChoice, MenuInput)> {
    call.audits()
        .iter()
        .filter_map(|a| match a {
            AuditEvent::MenuChoice { choice, input, .. } => Some((*choice, *input)),
            _ => None,
        })
        .collect()
}

#[test]
fn welcome_names_the_caller_and_balance_is_spoken() {
    let mut call = Call::new();
    call.run(IN_MENU).run(&[Press("1")]);
    assert_eq!(
        call.prompt_text(PromptId::WelcomeAfterPassphrase),
        "Nelson Medina welcome back."
    );
    assert_eq!(
        call.prompt_text(PromptId::Balance),
        "Your balance is 1234.56."
    );
    assert_eq!(call.last_prompts(), [PromptId::Balance, PromptId::Menu]);

    let mut call = Call::new();
    call.run(CODE_SENT).run(&[RightCode]);
    assert_eq!(
        call.prompt_text(PromptId::WelcomeAfterCode),
        "Hello Nelson Medina. Welcome back."
    );
}

#[test]
fn key_one_and_spoken_one_both_give_the_balance() {
    let cases: &[(Step, MenuInput)] = &[
        (Press("1"), MenuInput::Dtmf),
        (Say(&["one"]), MenuInput::Speech),
        (Say(&["[unk] one"]), MenuInput::Speech),
        (Say(&["won", "one"]), MenuInput::Speech),
    ];
    for (input, how) in cases {
        let mut call = Call::new();
        call.run(IN_MENU).step(*input);
        assert_eq!(
            menu_choices(&call),
            [(MenuChoice::Balance, *how)],
            "{input:?}"
        );
        assert_eq!(
            call.last_prompts(),
            [PromptId::Balance, PromptId::Menu],
            "{input:?}"
        );
        assert_eq!(call.flow.stage(), Stage::Menu);
    }
}

#[test]
fn a_key_stops_the_menu_recognizer() {
    let mut call = Call::new();
    call.run(IN_MENU).step(Press("1"));
    assert!(call.stopped_listening());
    assert_eq!(call.listens().last().unwrap().purpose, ListenPurpose::Menu);
}

#[test]
fn menu_listens_only_for_its_words() {
    let mut call = Call::new();
    call.run(IN_MENU);
    assert_eq!(
        call.listens().last().unwrap(),
        &ListenRequest {
            vocabulary: ListenWords::Words(vec!["one".into(), "zero".into(), "agent".into()]),
            timeout: Duration::from_secs(10),
            max_duration: Duration::from_secs(10),
            purpose: ListenPurpose::Menu,
            expected_words: Some(1),
        }
    );
}

#[test]
fn configured_words_work_in_any_language() {
    let mut config = FlowConfig::default();
    config.menu.balance_words = vec!["하나".into()];
    let mut call = Call::with_config(config);
    call.run(IN_MENU).step(Say(&["하나"]));
    assert_eq!(
        menu_choices(&call),
        [(MenuChoice::Balance, MenuInput::Speech)]
    );
}

#[test]
fn silence_from_the_recognizer_leaves_the_keypad_open() {
    let mut call = Call::new();
    call.run(IN_MENU).run(&[Say(&[]), Wait(5)]);
    assert!(call.last.is_empty());
    call.step(Press("0"));
    assert_eq!(
        call.transfers(),
        [(TransferTarget::Authenticated, verified(Factor::Passphrase))]
    );
    assert_eq!(menu_choices(&call), [(MenuChoice::Agent, MenuInput::Dtmf)]);
}

#[test]
fn menu_timeout_says_goodbye_and_hangs_up() {
    let mut call = Call::new();
    call.run(IN_MENU).run(&[Wait(9)]);
    assert!(call.last.is_empty());
    call.step(Wait(1));
    assert_eq!(call.last_prompts(), [PromptId::Goodbye]);
    assert!(matches!(call.last.last(), Some(Action::Hangup)));
    assert!(call.stopped_listening());
}

#[test]
fn agent_transfer_carries_the_verified_account_and_factor() {
    let mut call = Call::new();
    call.run(CODE_SENT)
        .run(&[RightCode, Played, Press("1"), Played, Press("0")]);
    let transfers = call.transfers();
    assert_eq!(
        transfers,
        [(TransferTarget::Authenticated, verified(Factor::SmsCode))]
    );
    assert_eq!(transfers[0].1.to_string(), "verified:acct-1");
}
