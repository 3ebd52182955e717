//! What the console shows in `passgate demo` only: the demo account and its
//! passphrase, and the texts the console SMS gateway "sent" (the demo has
//! no phone to receive them), so a caller can read the code off the page.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use auth::phone::E164;
use auth::store::Timestamp;
use serde::Serialize;

/// Texts kept, newest first.
const KEPT: usize = 20;

#[derive(Debug, Clone, Serialize)]
pub struct SmsShown {
    pub at: Timestamp,
    pub to: String,
    pub body: String,
}

/// The demo's sent texts. Exists only in `passgate demo`, where the codes
/// are printed to the log as well.
#[derive(Default)]
pub struct SmsInbox {
    texts: Mutex<VecDeque<SmsShown>>,
}

impl SmsInbox {
    pub fn push(&self, to: &E164, body: &str) {
        if let Ok(mut texts) = self.texts.lock() {
            texts.push_front(SmsShown {
                at: Timestamp::now(),
                to: to.as_str().to_string(),
                body: body.to_string(),
            });
            texts.truncate(KEPT);
        }
    }

    fn texts(&self) -> Vec<SmsShown> {
        self.texts
            .lock()
            .map(|t| t.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// The demo account and the texts sent.
pub struct Demo {
    pub name: &'static str,
    pub number: &'static str,
    pub passphrase: &'static str,
    pub sms: Arc<SmsInbox>,
}

#[derive(Serialize)]
pub struct DemoView {
    name: &'static str,
    number: &'static str,
    passphrase: &'static str,
    sms: Vec<SmsShown>,
}

impl Demo {
    pub fn view(&self) -> DemoView {
        DemoView {
            name: self.name,
            number: self.number,
            passphrase: self.passphrase,
            sms: self.sms.texts(),
        }
    }
}
