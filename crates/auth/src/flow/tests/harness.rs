use std::time::{Duration, Instant};

use crate::flow::*;
use crate::otp::test_sources::{Broken, Seeded};
use crate::otp::SecretSource;
use crate::passphrase::{HashCost, MatchRule, PassphraseHasher, StoredPassphrase};
use crate::phone::E164;

pub const CALLER: &str = "+15557770000";
pub const ON_FILE: &str = "+15550100001";
pub const PASSPHRASE: &str = "하얀 말";

pub fn nelson() -> Account {
    Account {
        id: AccountId("acct-1".to_string()),
        name: "Nelson Medina".to_string(),
        sms_number: E164::parse(ON_FILE).unwrap(),
        balance: Balance { cents: 123_456 },
        passphrase_words: Some(2),
    }
}

/// One thing that happens to the call, from the caller or the driver.
#[derive(Debug, Clone, Copy)]
pub enum Step {
    /// The INVITE's caller number (`None`: withheld).
    Call(Option<&'static str>),
    Found,
    NotFound,
    Locked,
    LookupFailed,
    /// Every prompt asked for so far has finished playing.
    Played,
    Press(&'static str),
    Say(&'static [&'static str]),
    /// The recognizer could not take the turn, or failed on it.
    RecognizerFailed,
    /// The driver checks the alternatives against the real Argon2 hash.
    Verify,
    VerifyError,
    Sent,
    SendFailed,
    /// Type the code that was sent, or one that is not it.
    RightCode,
    WrongCode,
    /// Let time pass; timers fire as a faithful driver would fire them.
    Wait(u64),
    Hangup,
    TransferFailed,
}

pub use Step::*;

pub struct Call {
    pub flow: Flow,
    pub t0: Instant,
    pub now: Instant,
    /// Every action, in order.
    pub log: Vec<Action>,
    /// The actions of the last step.
    pub last: Vec<Action>,
    stored: StoredPassphrase,
}

impl Call {
    pub fn new() -> Self {
        Self::with_config(FlowConfig::default())
    }

    pub fn with_config(config: FlowConfig) -> Self {
        Self::with_source(config, Box::new(Seeded(0x5eed)))
    }

    pub fn without_entropy() -> Self {
        Self::with_source(FlowConfig::default(), Box::new(Broken))
    }

    pub fn with_source(config: FlowConfig, source: Box<dyn SecretSource + Send>) -> Self {
        let t0 = Instant::now();
        let stored = PassphraseHasher::new(HashCost::minimum())
            .unwrap()
            .hash(PASSPHRASE)
            .unwrap();
        Self {
            flow: Flow::with_secret_source(config, source).unwrap(),
            t0,
            now: t0,
            log: Vec::new(),
            last: Vec::new(),
            stored,
        }
    }

    pub fn run(&mut self, steps: &[Step]) -> &mut Self {
        for step in steps {
            self.step(*step);
        }
        self
    }

    pub fn step(&mut self, step: Step) {
        self.last.clear();
        match step {
            Call(number) => {
                let number = number.map(|n| E164::parse(n).unwrap());
                self.event(Event::CallerId(number));
            }
            Found => self.event(Event::AccountLookup(LookupResult::Found(nelson()))),
            NotFound => self.event(Event::AccountLookup(LookupResult::NotFound)),
            Locked => self.event(Event::AccountLookup(LookupResult::Locked {
                account: Some(nelson().id),
            })),
            LookupFailed => self.event(Event::AccountLookup(LookupResult::Failed)),
            Played => {
                if let Some(id) = self.last_playback() {
                    self.event(Event::PromptFinished(id));
                }
            }
            Press(keys) => {
                for key in keys.chars() {
                    self.event(Event::Digit(key));
                }
            }
            Say(alternatives) => self.event(Event::Transcript(Alternatives::new(
                alternatives.iter().copied(),
            ))),
            RecognizerFailed => self.event(Event::RecognizerFailed),
            Verify => {
                let alternatives = self.pending_verification();
                let matched = self
                    .stored
                    .matches_any(alternatives.iter(), &MatchRule::default())
                    .unwrap();
                let check = if matched {
                    PassphraseCheck::Match
                } else {
                    PassphraseCheck::NoMatch
                };
                self.event(Event::PassphraseChecked(check));
            }
            VerifyError => self.event(Event::PassphraseChecked(PassphraseCheck::Error)),
            Sent => self.event(Event::CodeSent),
            SendFailed => self.event(Event::CodeFailed),
            RightCode => {
                let code = self.sent_code().expect("no code was sent");
                for key in code.chars() {
                    self.event(Event::Digit(key));
                }
            }
            WrongCode => {
                let code = self.sent_code().expect("no code was sent");
                let wrong: String = code
                    .chars()
                    .map(|c| {
                        if c == '9' {
                            '0'
                        } else {
                            char::from(c as u8 + 1)
                        }
                    })
                    .collect();
                for key in wrong.chars() {
                    self.event(Event::Digit(key));
                }
            }
            Wait(seconds) => self.advance(Duration::from_secs(seconds)),
            Hangup => self.event(Event::Hangup),
            TransferFailed => self.event(Event::TransferFailed),
        }
    }

    pub fn event(&mut self, event: Event) {
        let actions = self.flow.handle_event(self.now, event);
        self.record(actions);
    }

    /// Moves the clock, calling `handle_timeout` at each deadline on the way.
    pub fn advance(&mut self, by: Duration) {
        let target = self.now + by;
        while let Some(deadline) = self.flow.poll_timeout() {
            if deadline > target {
                break;
            }
            self.now = self.now.max(deadline);
            let actions = self.flow.handle_timeout(self.now);
            self.record(actions);
        }
        self.now = target;
    }

    fn record(&mut self, actions: Vec<Action>) {
        self.last.extend(actions.iter().cloned());
        self.log.extend(actions);
    }

    pub fn elapsed(&self) -> Duration {
        self.now - self.t0
    }

    pub fn last_playback(&self) -> Option<PlaybackId> {
        self.log.iter().rev().find_map(|a| match a {
            Action::Play(p) => Some(p.playback),
            _ => None,
        })
    }

    fn pending_verification(&self) -> Vec<String> {
        self.log
            .iter()
            .rev()
            .find_map(|a| match a {
                Action::VerifyPassphrase { alternatives, .. } => {
                    Some(alternatives.texts().map(str::to_string).collect())
                }
                _ => None,
            })
            .expect("no verification was asked for")
    }

    pub fn sent_code(&self) -> Option<String> {
        self.log.iter().rev().find_map(|a| match a {
            Action::SendCode { code, .. } => Some(code.expose().to_string()),
            _ => None,
        })
    }

    pub fn prompts(&self) -> Vec<PromptId> {
        prompt_ids(&self.log)
    }

    pub fn last_prompts(&self) -> Vec<PromptId> {
        prompt_ids(&self.last)
    }

    pub fn prompt_text(&self, id: PromptId) -> String {
        self.log
            .iter()
            .find_map(|a| match a {
                Action::Play(p) if p.id == id => Some(p.text.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("{id:?} was not played"))
    }

    pub fn audits(&self) -> Vec<AuditEvent> {
        self.log
            .iter()
            .filter_map(|a| match a {
                Action::Audit(e) => Some(e.clone()),
                _ => None,
            })
            .collect()
    }

    pub fn transfers(&self) -> Vec<(TransferTarget, AuthOutcome)> {
        self.log
            .iter()
            .filter_map(|a| match a {
                Action::Transfer { target, outcome } => Some((*target, outcome.clone())),
                _ => None,
            })
            .collect()
    }

    pub fn hung_up(&self) -> bool {
        self.log.iter().any(|a| matches!(a, Action::Hangup))
    }

    pub fn lookups(&self) -> Vec<(String, LookupPurpose)> {
        self.log
            .iter()
            .filter_map(|a| match a {
                Action::LookupAccount { number, purpose } => {
                    Some((number.as_str().to_string(), *purpose))
                }
                _ => None,
            })
            .collect()
    }

    pub fn digit_collections(&self) -> Vec<DigitCollection> {
        self.log
            .iter()
            .filter_map(|a| match a {
                Action::CollectDigits(spec) => Some(*spec),
                _ => None,
            })
            .collect()
    }

    pub fn listens(&self) -> Vec<ListenRequest> {
        self.log
            .iter()
            .filter_map(|a| match a {
                Action::Listen(request) => Some(request.clone()),
                _ => None,
            })
            .collect()
    }

    pub fn stopped_listening(&self) -> bool {
        self.last.iter().any(|a| matches!(a, Action::StopListening))
    }
}

pub fn prompt_ids(actions: &[Action]) -> Vec<PromptId> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Play(p) => Some(p.id),
            _ => None,
        })
        .collect()
}

/// Whether `wanted` appears in `all` in order, not necessarily adjacent.
pub fn in_order<T: PartialEq>(all: &[T], wanted: &[T]) -> bool {
    let mut rest = all.iter();
    wanted.iter().all(|w| rest.any(|a| a == w))
}

/// The caller is known by caller ID and the passphrase prompt has played.
pub const KNOWN_CALLER: &[Step] = &[Call(Some(CALLER)), Played, Found, Played];
/// The caller typed the number on file and the passphrase prompt has played.
pub const TYPED_CALLER: &[Step] = &[
    Call(Some(CALLER)),
    Played,
    NotFound,
    Played,
    Press("1"),
    Played,
    Press("5550100001"),
    Found,
    Played,
];
/// The passphrase failed and the code was sent; the entry prompt played.
pub const CODE_SENT: &[Step] = &[
    Call(Some(CALLER)),
    Played,
    Found,
    Played,
    Say(&["하얀 소"]),
    Verify,
    Sent,
    Played,
];
/// The caller is in the authenticated menu by passphrase.
pub const IN_MENU: &[Step] = &[
    Call(Some(CALLER)),
    Played,
    Found,
    Played,
    Say(&["하얀 말"]),
    Verify,
    Played,
];

pub fn verified(factor: Factor) -> AuthOutcome {
    AuthOutcome::Verified {
        account: nelson().id,
        factor,
    }
}
