//! Database URLs the store is given: what it refuses, and that a refusal
//! never repeats the password written in the URL.

use auth::store::{Store, StoreError};

#[tokio::test]
async fn unsupported_urls_are_refused_without_leaking_passwords() {
    let err = Store::connect("mysql://root:hunter2@db/passgate")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::UnsupportedUrl { .. }));
    assert!(!err.to_string().contains("hunter2"), "{err}");
}
