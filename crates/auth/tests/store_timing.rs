//! The store's passphrase check weighs the words' timings and the syllable
//! nuclei the recognizer gave (`MatchRule`'s timing and syllable checks), on SQLite: the decision is the same
//! on every engine, so `store.rs` covers PostgreSQL's side of the check.

use auth::flow::Alternatives;
use auth::passphrase::{HashCost, MatchRule, PassphraseHasher, WordSpan};
use auth::phone::E164;
use auth::store::{NewAccount, Store, Timestamp};

#[tokio::test]
async fn a_phrase_heard_apart_is_rejected_once_max_gap_is_on() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&format!("sqlite://{}/passgate.db", dir.path().display()))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let passphrase = PassphraseHasher::new(HashCost::minimum())
        .unwrap()
        .hash("blue river")
        .unwrap();
    let account = NewAccount {
        id: None,
        name: "Nelson Medina".to_string(),
        phones: vec![E164::parse("+15550100001").unwrap()],
        passphrase,
        balance: "10.00".parse().unwrap(),
    };
    let added = store
        .add_account(account, Timestamp::from_unix_millis(1_800_000_000_000))
        .await
        .unwrap();
    // "river" heard 0.5 s after "blue".
    let at = |start, end| WordSpan { start, end };
    let apart = Alternatives::timed([("blue river", 40.0, vec![at(1.0, 1.3), at(1.8, 2.1)])]);
    let together = Alternatives::timed([("blue river", 40.0, vec![at(1.0, 1.3), at(1.3, 1.6)])]);
    let off = MatchRule {
        count_syllables: false,
        ..MatchRule::default()
    };
    let gaps = MatchRule {
        max_gap: 0.3,
        ..off
    };
    for (heard, rule, accepted) in [
        (&apart, &off, true),
        (&apart, &gaps, false),
        (&together, &gaps, true),
    ] {
        let decided = store.check_passphrase(&added.id, heard, rule).await;
        assert_eq!(decided.unwrap(), accepted, "max_gap {}", rule.max_gap);
    }
    // "blue (green) river" heard as "blue river": four syllable nuclei
    // within a run of three syllables, rejected once the check is on.
    let nuclei = |times: &[f32]| together.clone().with_nuclei(times.to_vec());
    let on = MatchRule {
        count_syllables: true,
        ..MatchRule::default()
    };
    for (heard, rule, accepted) in [
        (nuclei(&[1.1, 1.35, 1.5]), on, true),
        (nuclei(&[1.1, 1.25, 1.4, 1.5]), on, false),
        (nuclei(&[1.1, 1.25, 1.4, 1.5]), off, true),
    ] {
        let decided = store.check_passphrase(&added.id, &heard, &rule).await;
        assert_eq!(
            decided.unwrap(),
            accepted,
            "count_syllables {}",
            rule.count_syllables
        );
    }
}
