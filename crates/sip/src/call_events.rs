//! The driver's side of the application's channels: each new call is handed
//! over with a channel of its own, and every later event of the call goes
//! there. Nothing here waits: a call whose channel is full has stopped
//! taking its events, and is reported so the driver ends it, where waiting
//! for it would stall SIP for every other call.

use std::collections::HashMap;

use tokio::sync::mpsc::{self, error::TrySendError};

use crate::event::{CallHandle, Event, IncomingCall};

/// Events one call may have waiting before it counts as stalled. A call
/// takes its events as they come; this many only pile up behind a task
/// that has stopped.
pub const CALL_EVENT_DEPTH: usize = 64;

/// A call offered to the application, with the channel of its events.
#[derive(Debug)]
pub struct NewCall {
    pub incoming: IncomingCall,
    /// Everything SIP reports about the call after the offer, ending with
    /// [`Event::CallEnded`]; closed without it when the call stalled.
    pub events: mpsc::Receiver<Event>,
}

/// What became of one event.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Routed {
    /// Delivered, or dropped because the call's task has finished.
    Done,
    /// The application has stopped taking new calls altogether.
    AppGone,
    /// No room for another new call: the application is behind.
    Refused(CallHandle),
    /// The call's channel is full: it has stopped taking its events. Its
    /// channel is closed; the call must be ended.
    Stalled(CallHandle),
}

pub(crate) struct CallRouter {
    new_calls: mpsc::Sender<NewCall>,
    calls: HashMap<CallHandle, mpsc::Sender<Event>>,
    depth: usize,
}

impl CallRouter {
    pub fn new(new_calls: mpsc::Sender<NewCall>, depth: usize) -> Self {
        CallRouter {
            new_calls,
            calls: HashMap::new(),
            depth,
        }
    }

    pub fn route(&mut self, event: Event) -> Routed {
        let call = match &event {
            Event::IncomingCall(incoming) => incoming.call,
            Event::CallConfirmed { call }
            | Event::MediaUpdated { call, .. }
            | Event::Info { call, .. }
            | Event::InfoDigit { call, .. }
            | Event::Refer { call, .. }
            | Event::CallEnded { call, .. } => *call,
        };
        if let Event::IncomingCall(incoming) = event {
            return self.offer(*incoming);
        }
        let ended = matches!(event, Event::CallEnded { .. });
        let Some(events) = self.calls.get(&call) else {
            return Routed::Done;
        };
        match events.try_send(event) {
            Ok(()) if !ended => Routed::Done,
            // A finished task has dropped its receiver: nothing to tell it.
            Ok(()) | Err(TrySendError::Closed(_)) => {
                self.calls.remove(&call);
                Routed::Done
            }
            Err(TrySendError::Full(_)) => {
                self.calls.remove(&call);
                Routed::Stalled(call)
            }
        }
    }

    fn offer(&mut self, incoming: IncomingCall) -> Routed {
        let call = incoming.call;
        let (tx, rx) = mpsc::channel(self.depth);
        match self.new_calls.try_send(NewCall {
            incoming,
            events: rx,
        }) {
            Ok(()) => {
                self.calls.insert(call, tx);
                Routed::Done
            }
            Err(TrySendError::Full(_)) => Routed::Refused(call),
            Err(TrySendError::Closed(_)) => Routed::AppGone,
        }
    }

    /// Calls with a channel open.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.calls.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EndReason;

    fn incoming(n: u64) -> Event {
        Event::IncomingCall(Box::new(IncomingCall {
            call: CallHandle(n),
            call_id: format!("c{n}"),
            request_uri: "sip:a@b".into(),
            from_uri: "sip:c@d".into(),
            from_display: None,
            to_uri: "sip:a@b".into(),
            p_asserted_identity: None,
            remote_party_id: None,
            identity_trusted: false,
            verstat: None,
            privacy: None,
            user_agent: None,
            source: "127.0.0.1:5060".parse().unwrap(),
            transport: crate::transport::TransportKind::Udp,
            media: None,
            provisional_media: None,
        }))
    }

    fn confirmed(n: u64) -> Event {
        Event::CallConfirmed {
            call: CallHandle(n),
        }
    }

    #[test]
    fn a_call_that_stops_reading_is_reported_once_while_others_get_every_event() {
        let (tx, mut new_calls) = mpsc::channel(8);
        let mut router = CallRouter::new(tx, 4);
        assert_eq!(router.route(incoming(1)), Routed::Done);
        assert_eq!(router.route(incoming(2)), Routed::Done);
        let _stuck = new_calls.try_recv().unwrap();
        let mut live = new_calls.try_recv().unwrap();
        let mut stalled = Vec::new();
        for _ in 0..10 {
            match router.route(confirmed(1)) {
                Routed::Done => {}
                Routed::Stalled(call) => stalled.push(call),
                other => panic!("{other:?}"),
            }
            assert_eq!(router.route(confirmed(2)), Routed::Done);
            assert!(matches!(
                live.events.try_recv(),
                Ok(Event::CallConfirmed { call }) if call == CallHandle(2)
            ));
        }
        assert_eq!(
            stalled,
            vec![CallHandle(1)],
            "reported once, at the fifth event"
        );
        assert_eq!(router.len(), 1, "the stalled call's channel is closed");
    }

    #[test]
    fn a_stalled_call_sees_its_queued_events_then_the_end_of_its_channel() {
        let (tx, mut new_calls) = mpsc::channel(8);
        let mut router = CallRouter::new(tx, 2);
        router.route(incoming(1));
        let mut call = new_calls.try_recv().unwrap();
        router.route(confirmed(1));
        router.route(confirmed(1));
        assert_eq!(router.route(confirmed(1)), Routed::Stalled(CallHandle(1)));
        assert!(call.events.try_recv().is_ok());
        assert!(call.events.try_recv().is_ok());
        assert!(matches!(
            call.events.try_recv(),
            Err(mpsc::error::TryRecvError::Disconnected)
        ));
    }

    #[test]
    fn new_calls_beyond_what_the_application_has_taken_are_refused_and_an_ended_call_forgotten() {
        let (tx, mut new_calls) = mpsc::channel(1);
        let mut router = CallRouter::new(tx, 4);
        assert_eq!(router.route(incoming(1)), Routed::Done);
        assert_eq!(router.route(incoming(2)), Routed::Refused(CallHandle(2)));
        let first = new_calls.try_recv().unwrap();
        let ended = Event::CallEnded {
            call: CallHandle(1),
            reason: EndReason::RemoteBye,
        };
        assert_eq!(router.route(ended), Routed::Done);
        assert_eq!(router.len(), 0);
        drop(first);
        drop(new_calls);
        assert_eq!(router.route(incoming(3)), Routed::AppGone);
    }
}
