//! Alternatives set aside for syllables the audio lacks, and the best of
//! them still rejecting when it has another word inside the phrase.

use super::tests::{stored, timed, Heard};
use super::*;

#[test]
fn alternatives_with_syllables_the_audio_lacks_are_set_aside() {
    // Slow speech (tuning voice ko at 100 words/min): "하얀 말" heard as
    // "하얀 하나" just above it, three nuclei in the audio. "하나" has two
    // syllables where "말" has one: the audio does not have them.
    let stored = stored("하얀 말");
    let rule = MatchRule::default();
    assert!(rule.set_aside_unheard && rule.max_unheard_syllables == 0);
    let heard: &[Heard] = &[
        ("하얀 하나", 81.99, &[(0.75, 1.41), (1.41, 1.92)]),
        ("하얀 말", 81.82, &[(0.75, 1.44), (1.44, 2.04)]),
    ];
    let decide =
        |nuclei: &[f32], rule: &MatchRule| stored.decide_heard(timed(heard), nuclei, rule).unwrap();
    let three = [0.89, 1.12, 1.57];
    let decision = decide(&three, &rule);
    assert!(decision.accepted);
    assert_eq!(decision.alternatives[0].verdict, Verdict::Unheard);
    assert_eq!(decision.alternatives[1].verdict, Verdict::Match);
    // Measured from the best of what may have been said.
    assert_eq!(decision.alternatives[1].below_best, 0.0);
    // Without it, or one syllable unheard allowed, the padded reading
    // leads, and "하얀 말" within min_lead below it cannot pass.
    for rule in [
        MatchRule {
            set_aside_unheard: false,
            ..rule
        },
        MatchRule {
            max_unheard_syllables: 1,
            ..rule
        },
        MatchRule {
            count_syllables: false,
            ..rule
        },
    ] {
        let decision = decide(&three, &rule);
        assert!(!decision.accepted);
        assert_eq!(decision.alternatives[0].verdict, Verdict::NoMatch);
        assert_eq!(decision.alternatives[1].verdict, Verdict::NotChecked);
    }
    // Four nuclei ("파란 하나" said): "하얀 하나" may have been said and
    // stays the rival; without nuclei nothing is set aside.
    assert!(!decide(&[0.89, 1.12, 1.57, 1.8], &rule).accepted);
    assert!(!decide(&[], &rule).accepted);
    // Nothing that may have been said: rejected.
    let padded: &[Heard] = &[("하얀 하나", 81.99, &[(0.75, 1.41), (1.41, 1.92)])];
    let alone = stored.decide_heard(timed(padded), &three, &rule).unwrap();
    assert!(!alone.accepted);
    assert_eq!(alone.alternatives[0].verdict, Verdict::Unheard);
    // An alternative without a span for every word is never set aside.
    let untimed = stored
        .decide_heard(
            [
                ("하얀 하나", 81.99, Vec::new()),
                ("하얀 말", 81.82, Vec::new()),
            ],
            &three,
            &rule,
        )
        .unwrap();
    assert_eq!(untimed.alternatives[0].verdict, Verdict::NoMatch);
    assert!(!untimed.accepted);
}

#[test]
fn a_set_aside_best_reading_with_another_word_inside_the_phrase_rejects() {
    // "하얀 늙은 말" said (5 syllables) with the counter finding three
    // nuclei: the best reading, "하얀 푸른 말", has 4 syllables and is set
    // aside, and "하얀 말" below it would pass on the nuclei it fits.
    let stored = stored("하얀 말");
    let rule = MatchRule::default();
    assert!(rule.best_with_word_inside_rejects);
    let three = [0.9, 1.2, 1.7];
    let heard = |best: &'static str| -> Vec<(&'static str, f32, Vec<WordSpan>)> {
        timed(&[
            (best, 90.0, &[(0.75, 1.3), (1.3, 1.6), (1.6, 2.0)]),
            ("하얀 말", 89.0, &[(0.75, 1.3), (1.3, 2.0)]),
        ])
    };
    let decision = stored
        .decide_heard(heard("하얀 푸른 말"), &three, &rule)
        .unwrap();
    assert!(!decision.accepted);
    assert_eq!(decision.alternatives[0].verdict, Verdict::WordsInside);
    assert_eq!(decision.alternatives[1].verdict, Verdict::Match);
    // Off, the set-aside reading is only set aside.
    let off = MatchRule {
        best_with_word_inside_rejects: false,
        ..rule
    };
    let decision = stored
        .decide_heard(heard("하얀 푸른 말"), &three, &off)
        .unwrap();
    assert!(decision.accepted);
    assert_eq!(decision.alternatives[0].verdict, Verdict::Unheard);
    // A repeat of the phrase's own word inside is a slow word split in
    // two: it does not reject.
    let decision = stored
        .decide_heard(heard("하얀 하얀 말"), &three, &rule)
        .unwrap();
    assert!(decision.accepted);
    assert_eq!(decision.alternatives[0].verdict, Verdict::Unheard);
    // Only the best: the same reading below the one that matched is set
    // aside as before ("하얀 둘 말" under a slow true phrase).
    let below = timed(&[
        ("하얀 하나", 91.0, &[(0.75, 1.3), (1.3, 2.0)]),
        ("하얀 말", 90.5, &[(0.75, 1.3), (1.3, 2.0)]),
        ("하얀 둘 말", 90.0, &[(0.75, 1.3), (1.3, 1.6), (1.6, 2.0)]),
    ]);
    let decision = stored.decide_heard(below, &three, &rule).unwrap();
    assert!(decision.accepted);
    assert_eq!(decision.alternatives[2].verdict, Verdict::Unheard);
}
