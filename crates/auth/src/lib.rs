//! The two-factor flow, accounts, one-time codes. Filled in by the auth issue.
