//! Whole-call tests: a fake clock, a scripted caller and a driver that
//! answers the flow's requests, with no sockets and no sleeping.

mod branches;
mod code_entry;
mod hangups;
mod harness;
mod menu;
mod number_entry;
mod passphrase;
mod stale_events;
mod timing;
