//! Every branch of the flow as a row: a script of what the caller and the
//! driver do, how the call must end, and prompts that must have played in
//! that order.

use super::harness::*;
use crate::flow::PromptId::*;
use crate::flow::*;

#[derive(Debug, Clone, Copy)]
enum End {
    /// Transferred to a representative with this outcome label.
    Representative(&'static str),
    /// Transferred to the agent queue, verified by this factor.
    Agent(Factor),
    /// We hung up.
    HungUp(HangupReason),
}

struct Case {
    name: &'static str,
    configure: fn(&mut FlowConfig),
    script: &'static [&'static [Step]],
    end: End,
    prompts: &'static [PromptId],
}

fn defaults(_: &mut FlowConfig) {}

fn one_number_attempt(config: &mut FlowConfig) {
    config.number_entry.attempts = 1;
}

const CASES: &[Case] = &[
    Case {
        name: "known caller, passphrase, agent",
        configure: defaults,
        script: &[
            KNOWN_CALLER,
            &[Say(&["하얀 말"]), Verify, Played, Press("0")],
        ],
        end: End::Agent(Factor::Passphrase),
        prompts: &[
            Greeting,
            PassphraseRequest,
            Beep,
            WelcomeAfterPassphrase,
            Menu,
            TransferringToAgent,
        ],
    },
    Case {
        name: "a word before the passphrase costs more than the margin: the code",
        configure: defaults,
        script: &[
            KNOWN_CALLER,
            &[
                Say(&["아니요 하얀 말"]),
                Verify,
                Sent,
                Played,
                RightCode,
                Played,
                Press("0"),
            ],
        ],
        end: End::Agent(Factor::SmsCode),
        prompts: &[PassphraseFailed, WelcomeAfterCode],
    },
    Case {
        name: "second N-best alternative matches",
        configure: defaults,
        script: &[
            KNOWN_CALLER,
            &[Say(&["하얀 소", "하얀 말"]), Verify, Played, Press("0")],
        ],
        end: End::Agent(Factor::Passphrase),
        prompts: &[WelcomeAfterPassphrase],
    },
    Case {
        name: "wrong passphrase, right code",
        configure: defaults,
        script: &[CODE_SENT, &[RightCode, Played, Press("0")]],
        end: End::Agent(Factor::SmsCode),
        prompts: &[
            PassphraseFailed,
            EnterCode,
            WelcomeAfterCode,
            Menu,
            TransferringToAgent,
        ],
    },
    Case {
        name: "silence, right code",
        configure: defaults,
        script: &[
            KNOWN_CALLER,
            &[Say(&[]), Sent, Played, RightCode, Played, Press("0")],
        ],
        end: End::Agent(Factor::SmsCode),
        prompts: &[PassphraseFailed, EnterCode, WelcomeAfterCode],
    },
    Case {
        name: "only unknown words heard counts as silence",
        configure: defaults,
        script: &[
            KNOWN_CALLER,
            &[
                Say(&["[unk]", ""]),
                Sent,
                Played,
                RightCode,
                Played,
                Press("0"),
            ],
        ],
        end: End::Agent(Factor::SmsCode),
        prompts: &[PassphraseFailed, EnterCode],
    },
    Case {
        name: "recognizer never answers, code instead",
        configure: defaults,
        script: &[
            KNOWN_CALLER,
            // 8 s to begin, 5 s to finish, 2 s for the result.
            &[Wait(16), Sent, Played, RightCode, Played, Press("0")],
        ],
        end: End::Agent(Factor::SmsCode),
        prompts: &[PassphraseFailed, EnterCode, WelcomeAfterCode],
    },
    Case {
        name: "verification error falls back to the code",
        configure: defaults,
        script: &[
            KNOWN_CALLER,
            &[
                Say(&["하얀 말"]),
                VerifyError,
                Sent,
                Played,
                RightCode,
                Played,
                Press("0"),
            ],
        ],
        end: End::Agent(Factor::SmsCode),
        prompts: &[PassphraseFailed, WelcomeAfterCode],
    },
    Case {
        name: "verification never answers, code instead",
        configure: defaults,
        script: &[
            KNOWN_CALLER,
            &[
                Say(&["하얀 말"]),
                Wait(11),
                Sent,
                Played,
                RightCode,
                Played,
                Press("0"),
            ],
        ],
        end: End::Agent(Factor::SmsCode),
        prompts: &[PassphraseFailed, WelcomeAfterCode],
    },
    Case {
        name: "wrong code once, then right",
        configure: defaults,
        script: &[
            CODE_SENT,
            &[WrongCode, Played, RightCode, Played, Press("0")],
        ],
        end: End::Agent(Factor::SmsCode),
        prompts: &[EnterCode, CodeWrong, WelcomeAfterCode],
    },
    Case {
        name: "wrong code three times",
        configure: defaults,
        script: &[
            CODE_SENT,
            &[WrongCode, Played, WrongCode, Played, WrongCode],
        ],
        end: End::Representative("failed"),
        prompts: &[CodeWrong, CodeWrong, TransferringToRepresentative],
    },
    Case {
        name: "code typed after it expired",
        configure: defaults,
        script: &[CODE_SENT, &[Wait(61), RightCode]],
        end: End::Representative("failed"),
        prompts: &[EnterCode, CodeExpired, TransferringToRepresentative],
    },
    Case {
        name: "SMS gateway fails",
        configure: defaults,
        script: &[KNOWN_CALLER, &[Say(&["하얀 소"]), Verify, SendFailed]],
        end: End::Representative("error"),
        prompts: &[
            PassphraseFailed,
            CodeSendFailed,
            TransferringToRepresentative,
        ],
    },
    Case {
        name: "SMS gateway never answers",
        configure: defaults,
        script: &[KNOWN_CALLER, &[Say(&["하얀 소"]), Verify, Wait(16)]],
        end: End::Representative("error"),
        prompts: &[
            PassphraseFailed,
            CodeSendFailed,
            TransferringToRepresentative,
        ],
    },
    Case {
        name: "unknown caller types the number on file",
        configure: defaults,
        script: &[
            TYPED_CALLER,
            &[Say(&["하얀 말"]), Verify, Played, Press("0")],
        ],
        end: End::Agent(Factor::Passphrase),
        prompts: &[
            Greeting,
            NumberNotRecognized,
            EnterNumber,
            NumberMatched,
            PassphraseRequest,
            WelcomeAfterPassphrase,
        ],
    },
    Case {
        name: "unknown caller presses another key",
        configure: defaults,
        script: &[&[Call(Some(CALLER)), Played, NotFound, Played, Press("2")]],
        end: End::Representative("no-account"),
        prompts: &[NumberNotRecognized, TransferringToRepresentative],
    },
    Case {
        name: "unknown caller presses nothing",
        configure: defaults,
        script: &[&[Call(Some(CALLER)), Played, NotFound, Played, Wait(9)]],
        end: End::Representative("no-account"),
        prompts: &[NumberNotRecognized, TransferringToRepresentative],
    },
    Case {
        name: "withheld caller types the number",
        configure: defaults,
        script: &[&[
            Call(None),
            Played,
            Press("1"),
            Played,
            Press("5550100001"),
            Found,
            Played,
            Say(&["하얀 말"]),
            Verify,
            Played,
            Press("0"),
        ]],
        end: End::Agent(Factor::Passphrase),
        prompts: &[NumberNotRecognized, EnterNumber, NumberMatched],
    },
    Case {
        name: "typed number unknown three times",
        configure: defaults,
        script: &[&[
            Call(Some(CALLER)),
            Played,
            NotFound,
            Played,
            Press("1"),
            Played,
            Press("5550100009"),
            NotFound,
            Played,
            Press("5550100008"),
            NotFound,
            Played,
            Press("5550100007"),
            NotFound,
        ]],
        end: End::Representative("no-account"),
        prompts: &[
            EnterNumber,
            NumberNotFound,
            EnterNumber,
            NumberNotFound,
            EnterNumber,
            NumberNotFound,
            TransferringToRepresentative,
        ],
    },
    Case {
        name: "typed number unknown once, then found",
        configure: defaults,
        script: &[&[
            Call(Some(CALLER)),
            Played,
            NotFound,
            Played,
            Press("1"),
            Played,
            Press("5550100009"),
            NotFound,
            Played,
            Press("5550100001"),
            Found,
            Played,
            Say(&["하얀 말"]),
            Verify,
            Played,
            Press("0"),
        ]],
        end: End::Agent(Factor::Passphrase),
        prompts: &[NumberNotFound, EnterNumber, NumberMatched],
    },
    Case {
        name: "typed number too short three times (# ends early)",
        configure: defaults,
        script: &[&[
            Call(Some(CALLER)),
            Played,
            NotFound,
            Played,
            Press("1"),
            Played,
            Press("555#"),
            Played,
            Press("5550#"),
            Played,
            Press("#"),
        ]],
        end: End::Representative("no-account"),
        prompts: &[
            NumberInvalid,
            EnterNumber,
            NumberInvalid,
            EnterNumber,
            NumberInvalid,
            TransferringToRepresentative,
        ],
    },
    Case {
        name: "typed number never entered",
        configure: defaults,
        script: &[&[
            Call(Some(CALLER)),
            Played,
            NotFound,
            Played,
            Press("1"),
            Played,
            Wait(61),
            Played,
            Wait(61),
            Played,
            Wait(61),
        ]],
        end: End::Representative("no-account"),
        prompts: &[
            EnterNumber,
            NumberInvalid,
            EnterNumber,
            NumberInvalid,
            EnterNumber,
            NumberInvalid,
            TransferringToRepresentative,
        ],
    },
    Case {
        name: "a single number attempt when configured",
        configure: one_number_attempt,
        script: &[&[
            Call(Some(CALLER)),
            Played,
            NotFound,
            Played,
            Press("1"),
            Played,
            Press("5550100009"),
            NotFound,
        ]],
        end: End::Representative("no-account"),
        prompts: &[EnterNumber, NumberNotFound, TransferringToRepresentative],
    },
    Case {
        name: "caller's account is locked",
        configure: defaults,
        script: &[&[Call(Some(CALLER)), Played, Locked]],
        end: End::Representative("locked"),
        prompts: &[Greeting, TransferringToRepresentative],
    },
    Case {
        name: "typed number's account is locked",
        configure: defaults,
        script: &[&[
            Call(Some(CALLER)),
            Played,
            NotFound,
            Played,
            Press("1"),
            Played,
            Press("5550100001"),
            Locked,
        ]],
        end: End::Representative("locked"),
        prompts: &[EnterNumber, TransferringToRepresentative],
    },
    Case {
        name: "caller lookup fails",
        configure: defaults,
        script: &[&[Call(Some(CALLER)), LookupFailed]],
        end: End::Representative("error"),
        prompts: &[TransferringToRepresentative],
    },
    Case {
        name: "caller lookup never answers",
        configure: defaults,
        script: &[&[Call(Some(CALLER)), Played, Wait(6)]],
        end: End::Representative("error"),
        prompts: &[TransferringToRepresentative],
    },
    Case {
        name: "typed number lookup fails",
        configure: defaults,
        script: &[&[
            Call(Some(CALLER)),
            Played,
            NotFound,
            Played,
            Press("1"),
            Played,
            Press("5550100001"),
            LookupFailed,
        ]],
        end: End::Representative("error"),
        prompts: &[EnterNumber, TransferringToRepresentative],
    },
    Case {
        name: "menu: balance by key, then agent",
        configure: defaults,
        script: &[IN_MENU, &[Press("1"), Played, Press("0")]],
        end: End::Agent(Factor::Passphrase),
        prompts: &[Menu, Balance, Menu, TransferringToAgent],
    },
    Case {
        name: "menu: balance by voice, then silence",
        configure: defaults,
        script: &[IN_MENU, &[Say(&["one"]), Played, Wait(11)]],
        end: End::HungUp(HangupReason::MenuTimeout),
        prompts: &[Menu, Balance, Menu, Goodbye],
    },
    Case {
        name: "menu: agent by voice",
        configure: defaults,
        script: &[IN_MENU, &[Say(&["zero"])]],
        end: End::Agent(Factor::Passphrase),
        prompts: &[Menu, TransferringToAgent],
    },
    Case {
        name: "menu: nothing at all",
        configure: defaults,
        script: &[IN_MENU, &[Wait(11)]],
        end: End::HungUp(HangupReason::MenuTimeout),
        prompts: &[WelcomeAfterPassphrase, Menu, Goodbye],
    },
    Case {
        name: "menu: three invalid choices",
        configure: defaults,
        script: &[
            IN_MENU,
            &[Press("7"), Played, Say(&["banana"]), Played, Press("#")],
        ],
        end: End::HungUp(HangupReason::MenuInvalid),
        prompts: &[Menu, Menu, Menu, Goodbye],
    },
    Case {
        name: "transfer refused by the far end",
        configure: defaults,
        script: &[&[Call(Some(CALLER)), Played, Locked, Step::TransferFailed]],
        end: End::HungUp(HangupReason::TransferFailed),
        prompts: &[TransferringToRepresentative, PromptId::TransferFailed],
    },
];

#[test]
fn every_branch_ends_as_specified() {
    for case in CASES {
        let mut config = FlowConfig::default();
        (case.configure)(&mut config);
        let mut call = Call::with_config(config);
        for part in case.script {
            call.run(part);
        }
        let name = case.name;
        let prompts = call.prompts();
        assert!(
            in_order(&prompts, case.prompts),
            "{name}: prompts {prompts:?} lack {:?} in order",
            case.prompts
        );
        let audits = call.audits();
        let transfers = call.transfers();
        assert!(
            transfers.len() <= 1,
            "{name}: several transfers {transfers:?}"
        );
        match case.end {
            End::Representative(label) => {
                let (target, outcome) = transfers.last().expect(name).clone();
                assert_eq!(target, TransferTarget::Representative, "{name}");
                assert_eq!(outcome.label(), label, "{name}");
                assert_eq!(call.flow.stage(), Stage::Transferring, "{name}");
                assert!(
                    audits.contains(&AuditEvent::Transferred { target, outcome }),
                    "{name}: transfer not audited"
                );
            }
            End::Agent(factor) => {
                let (target, outcome) = transfers.last().expect(name).clone();
                assert_eq!(target, TransferTarget::Authenticated, "{name}");
                assert_eq!(outcome, verified(factor), "{name}");
                assert!(
                    audits.iter().any(|a| matches!(
                        a,
                        AuditEvent::Authenticated { factor: f, .. } if *f == factor
                    )),
                    "{name}: authentication not audited"
                );
            }
            End::HungUp(reason) => {
                assert!(call.hung_up(), "{name}: no hangup");
                assert!(call.flow.is_ended(), "{name}");
                assert_eq!(call.flow.poll_timeout(), None, "{name}");
                assert_eq!(
                    audits.last(),
                    Some(&AuditEvent::FlowHungUp { reason }),
                    "{name}"
                );
            }
        }
        assert_eq!(
            audits.first(),
            Some(&AuditEvent::CallStarted {
                caller: call
                    .lookups()
                    .first()
                    .filter(|(_, p)| *p == LookupPurpose::CallerId)
                    .map(|(n, _)| crate::phone::E164::parse(n).unwrap())
            }),
            "{name}"
        );
        let shown = format!("{:?}", call.log);
        assert!(
            !shown.contains("하얀"),
            "{name}: passphrase in Debug output"
        );
        for row in &audits {
            let json = serde_json::to_string(row).unwrap();
            assert!(
                !json.contains("하얀"),
                "{name}: passphrase in audit row {json}"
            );
        }
    }
}
