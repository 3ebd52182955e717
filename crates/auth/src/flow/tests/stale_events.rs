//! An answer meant for another stage (a late lookup, a verdict after its
//! timeout, a gateway reply after the transfer) changes nothing.

use super::harness::*;
use crate::flow::*;

fn foreign_events(stage: Stage) -> Vec<Event> {
    let all = [
        Event::CallerId(None),
        Event::AccountLookup(LookupResult::Found(nelson())),
        Event::Transcript(Alternatives::new(["하얀 말"])),
        Event::RecognizerFailed,
        Event::PassphraseChecked(PassphraseCheck::Match),
        Event::CodeSent,
        Event::CodeFailed,
        Event::TransferFailed,
        Event::Digit('1'),
    ];
    let consumed = |event: &Event| match event {
        Event::CallerId(_) => stage == Stage::AwaitingCallerId,
        Event::AccountLookup(_) => matches!(stage, Stage::CallerLookup | Stage::NumberLookup),
        Event::Transcript(_) => matches!(stage, Stage::Passphrase | Stage::Menu),
        Event::RecognizerFailed => stage == Stage::Passphrase,
        Event::PassphraseChecked(_) => stage == Stage::PassphraseCheck,
        Event::CodeSent | Event::CodeFailed => stage == Stage::SendingCode,
        Event::TransferFailed => stage == Stage::Transferring,
        Event::Digit(_) => matches!(
            stage,
            Stage::OfferTypedNumber | Stage::NumberEntry | Stage::CodeEntry | Stage::Menu
        ),
        _ => true,
    };
    all.into_iter().filter(|e| !consumed(e)).collect()
}

#[test]
fn events_for_other_stages_are_ignored() {
    let number_prompt: &[Step] = &[
        Call(Some(CALLER)),
        Played,
        NotFound,
        Played,
        Press("1"),
        Played,
    ];
    let cases: &[(&[&[Step]], Stage)] = &[
        (&[], Stage::AwaitingCallerId),
        (&[&[Call(Some(CALLER))]], Stage::CallerLookup),
        (
            &[&[Call(Some(CALLER)), Played, NotFound]],
            Stage::OfferTypedNumber,
        ),
        (&[number_prompt, &[Press("555")]], Stage::NumberEntry),
        (
            &[number_prompt, &[Press("5550100001")]],
            Stage::NumberLookup,
        ),
        (&[KNOWN_CALLER], Stage::Passphrase),
        (
            &[KNOWN_CALLER, &[Say(&["하얀 소"])]],
            Stage::PassphraseCheck,
        ),
        (
            &[KNOWN_CALLER, &[Say(&["하얀 소"]), Verify]],
            Stage::SendingCode,
        ),
        (&[CODE_SENT], Stage::CodeEntry),
        (&[IN_MENU], Stage::Menu),
        (
            &[&[Call(Some(CALLER)), Played, Locked]],
            Stage::Transferring,
        ),
    ];
    for (script, stage) in cases {
        for event in foreign_events(*stage) {
            let mut call = Call::new();
            for part in *script {
                call.run(part);
            }
            assert_eq!(call.flow.stage(), *stage);
            let shown = format!("{event:?}");
            call.last.clear();
            call.event(event);
            assert!(call.last.is_empty(), "{stage:?} + {shown}: {:?}", call.last);
            assert_eq!(call.flow.stage(), *stage, "{stage:?} + {shown}");
        }
    }
}
