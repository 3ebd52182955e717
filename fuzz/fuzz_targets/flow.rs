//! The two-factor flow fed an arbitrary sequence of events with time moving
//! forward: no panic, no spin, and once ended it stays ended.
#![no_main]

use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use auth::flow::{
    Account, AccountId, Action, Alternatives, Balance, Event, Flow, FlowConfig, LookupResult,
    PassphraseCheck, PlaybackId,
};
use auth::otp::{OtpError, SecretSource};
use auth::phone::E164;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
enum Step {
    CallerId(Option<String>),
    CallerIdValid(u32),
    Lookup(Lookup),
    Digit(u8),
    DigitChar(char),
    Transcript(Vec<String>),
    Passphrase(u8),
    CodeSent,
    CodeFailed,
    /// Finish the latest prompt (or an arbitrary playback id).
    PromptFinished(Option<u32>),
    TransferFailed,
    Hangup,
    /// Move the clock forward by this many milliseconds.
    Advance(u16),
    /// Move the clock to the flow's next deadline and fire it.
    Timeout,
}

#[derive(Debug, Arbitrary)]
enum Lookup {
    Found { id: String, sms: u32, cents: i64 },
    NotFound,
    Locked(Option<String>),
    Failed,
}

/// Deterministic "random" bytes, so a crash reproduces.
struct Counter(u8);

impl SecretSource for Counter {
    fn fill(&mut self, bytes: &mut [u8]) -> Result<(), OtpError> {
        for b in bytes {
            self.0 = self.0.wrapping_mul(31).wrapping_add(7);
            *b = self.0;
        }
        Ok(())
    }
}

fn number(n: u32) -> E164 {
    E164::parse(&format!("+1555{:07}", n % 10_000_000)).expect("valid E.164")
}

fuzz_target!(|steps: Vec<Step>| {
    let mut flow = Flow::with_secret_source(FlowConfig::default(), Box::new(Counter(3)))
        .expect("default config is valid");
    let mut now = Instant::now();
    let mut last_play = None;
    let mut ended = false;
    for step in steps.into_iter().take(256) {
        let event = match step {
            Step::CallerId(text) => Event::CallerId(text.and_then(|t| E164::parse(&t).ok())),
            Step::CallerIdValid(n) => Event::CallerId(Some(number(n))),
            Step::Lookup(Lookup::Found { id, sms, cents }) => {
                Event::AccountLookup(LookupResult::Found(Account {
                    id: AccountId(id),
                    name: "Fuzz".into(),
                    sms_number: number(sms),
                    balance: Balance { cents },
                    passphrase_words: Some(2),
                }))
            }
            Step::Lookup(Lookup::NotFound) => Event::AccountLookup(LookupResult::NotFound),
            Step::Lookup(Lookup::Locked(id)) => Event::AccountLookup(LookupResult::Locked {
                account: id.map(AccountId),
            }),
            Step::Lookup(Lookup::Failed) => Event::AccountLookup(LookupResult::Failed),
            Step::Digit(d) => Event::Digit(b"0123456789*#ABCD"[usize::from(d % 16)] as char),
            Step::DigitChar(c) => Event::Digit(c),
            Step::Transcript(texts) => Event::Transcript(Alternatives::new(texts)),
            Step::Passphrase(p) => Event::PassphraseChecked(match p % 3 {
                0 => PassphraseCheck::Match,
                1 => PassphraseCheck::NoMatch,
                _ => PassphraseCheck::Error,
            }),
            Step::CodeSent => Event::CodeSent,
            Step::CodeFailed => Event::CodeFailed,
            Step::PromptFinished(id) => match id.map(PlaybackId).or(last_play) {
                Some(id) => Event::PromptFinished(id),
                None => continue,
            },
            Step::TransferFailed => Event::TransferFailed,
            Step::Hangup => Event::Hangup,
            Step::Advance(ms) => {
                now += Duration::from_millis(u64::from(ms));
                let actions = flow.handle_timeout(now);
                check(&actions, &mut last_play, ended);
                ended |= flow.is_ended();
                continue;
            }
            Step::Timeout => {
                if let Some(t) = flow.poll_timeout() {
                    now = now.max(t);
                }
                let actions = flow.handle_timeout(now);
                check(&actions, &mut last_play, ended);
                ended |= flow.is_ended();
                continue;
            }
        };
        let actions = flow.handle_event(now, event);
        check(&actions, &mut last_play, ended);
        ended |= flow.is_ended();
        assert!(!ended || flow.is_ended(), "an ended flow came back to life");
    }
});

fn check(actions: &[Action], last_play: &mut Option<PlaybackId>, _ended: bool) {
    for action in actions {
        if let Action::Play(prompt) = action {
            *last_play = Some(prompt.playback);
        }
    }
}
