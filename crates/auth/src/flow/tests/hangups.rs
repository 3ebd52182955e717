//! The caller hanging up at every stage ends the flow cleanly: one audit
//! row naming the stage, recognition stopped, nothing more afterwards.

use super::harness::*;
use crate::flow::*;

const NUMBER_PROMPT: &[Step] = &[
    Call(Some(CALLER)),
    Played,
    NotFound,
    Played,
    Press("1"),
    Played,
];

#[test]
fn hanging_up_at_every_stage() {
    let cases: &[(&[&[Step]], Stage)] = &[
        (&[], Stage::AwaitingCallerId),
        (&[&[Call(Some(CALLER))]], Stage::CallerLookup),
        (
            &[&[Call(Some(CALLER)), Played, NotFound]],
            Stage::OfferTypedNumber,
        ),
        (&[NUMBER_PROMPT, &[Press("555")]], Stage::NumberEntry),
        (
            &[NUMBER_PROMPT, &[Press("5550100001")]],
            Stage::NumberLookup,
        ),
        (&[KNOWN_CALLER], Stage::Passphrase),
        (
            &[KNOWN_CALLER, &[Say(&["하얀 말"])]],
            Stage::PassphraseCheck,
        ),
        (
            &[KNOWN_CALLER, &[Say(&["하얀 소"]), Verify]],
            Stage::SendingCode,
        ),
        (&[CODE_SENT, &[Press("1")]], Stage::CodeEntry),
        (&[IN_MENU], Stage::Menu),
        (
            &[&[Call(Some(CALLER)), Played, Locked]],
            Stage::Transferring,
        ),
    ];
    for (script, stage) in cases {
        let mut call = Call::new();
        for part in *script {
            call.run(part);
        }
        assert_eq!(call.flow.stage(), *stage, "script did not reach {stage:?}");
        call.step(Hangup);

        let has_account = matches!(
            stage,
            Stage::Passphrase
                | Stage::PassphraseCheck
                | Stage::SendingCode
                | Stage::CodeEntry
                | Stage::Menu
        );
        let expected = AuditEvent::CallerHungUp {
            stage: *stage,
            account: has_account.then(|| nelson().id),
        };
        let audits_now: Vec<_> = call
            .last
            .iter()
            .filter_map(|a| match a {
                Action::Audit(e) => Some(e.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(audits_now, [expected], "{stage:?}");
        let listening = matches!(stage, Stage::Passphrase | Stage::Menu);
        assert_eq!(call.stopped_listening(), listening, "{stage:?}");
        assert!(
            !call
                .last
                .iter()
                .any(|a| matches!(a, Action::Hangup | Action::Play(_))),
            "{stage:?}: nothing is played to, or hung up on, a caller who left"
        );
        assert!(call.flow.is_ended(), "{stage:?}");
        assert_eq!(call.flow.poll_timeout(), None, "{stage:?}");

        for later in [Hangup, Press("1"), Found, Sent, Wait(120), TransferFailed] {
            call.step(later);
            assert!(
                call.last.is_empty(),
                "{stage:?}: {later:?} after hangup gave {:?}",
                call.last
            );
        }
    }
}
