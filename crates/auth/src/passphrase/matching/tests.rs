use super::super::hashing::{HashCost, PassphraseHasher};
use super::*;

pub(super) fn stored(phrase: &str) -> StoredPassphrase {
    PassphraseHasher::new(HashCost::minimum())
        .unwrap()
        .hash(phrase)
        .unwrap()
}

#[test]
fn the_default_rule_takes_one_word_after_the_phrase_and_none_before() {
    let stored = stored("하얀 말");
    let rule = MatchRule::default();
    assert!(stored.matches_any(["하얀 말"], &rule).unwrap());
    // Slow speech heard with a word after the phrase (tuning voice
    // ko+f2 at 110 words/min).
    assert!(stored.matches_any(["하얀 말 하나"], &rule).unwrap());
    assert!(stored.matches_any(["하얀 말 [unk]"], &rule).unwrap());
    assert!(!stored.matches_any(["하얀 말 하나 둘"], &rule).unwrap());
    // "파란 말" heard as "말 하얀 말".
    assert!(!stored.matches_any(["말 하얀 말"], &rule).unwrap());
    assert!(!stored.matches_any(["[unk] 하얀 말"], &rule).unwrap());
    // A word after the phrase is taken only at the top: 0.1 below the
    // best and the word is over the margin.
    let below = stored
        .decide([("하얀 하나", 70.17), ("하얀 말 하나", 70.07)], &rule)
        .unwrap();
    assert!(!below.accepted);
    assert_eq!(below.alternatives[1].verdict, Verdict::NotCounted);
    assert!((below.alternatives[1].cost - 0.55).abs() < 0.01);
    let top = stored
        .decide([("하얀 말 하나", 69.20), ("하얀 하나", 68.11)], &rule)
        .unwrap();
    assert!(top.accepted);
    assert!((top.alternatives[0].cost - 0.45).abs() < 0.01);
    // Repeats are never merged without timings.
    assert!(rule.merge_repeated_words);
    assert!(!stored.matches_any(["하얀 말 말"], &rule).unwrap());
    let merging = MatchRule {
        merge_repeated_words: true,
        ..rule
    };
    assert!(!stored.matches_any(["하얀 말 말"], &merging).unwrap());
}

/// An alternative's text, score and words' start and end times.
pub(super) type Heard<'a> = (&'a str, f32, &'a [(f32, f32)]);

/// Alternatives with their words' times, as a recognizer gives them.
pub(super) fn timed<'a>(alternatives: &[Heard<'a>]) -> Vec<(&'a str, f32, Vec<WordSpan>)> {
    alternatives
        .iter()
        .map(|&(text, score, times)| {
            let spans = times
                .iter()
                .map(|&(start, end)| WordSpan { start, end })
                .collect();
            (text, score, spans)
        })
        .collect()
}

#[test]
fn a_word_split_in_touching_pieces_counts_once() {
    let stored = stored("하얀 말");
    // The merge alone: "하얀 둘 말" below would reject on its own
    // (`inside_lead`).
    let rule = MatchRule {
        merge_repeated_words: true,
        inside_lead: 0.0,
        ..MatchRule::default()
    };
    let decide = |alternatives: &[Heard<'_>], rule: &MatchRule| {
        stored.decide_timed(timed(alternatives), rule).unwrap()
    };
    // A slow caller's 하얀 split in two touching pieces (tuning voice
    // ko+m3 at 100 words/min): as heard, 하얀 is inside the phrase's
    // words and rejects; merged it is the phrase.
    let split = decide(
        &[
            (
                "하얀 하얀 말",
                140.64,
                &[(1.74, 2.16), (2.16, 2.37), (2.37, 2.76)],
            ),
            (
                "하얀 둘 말",
                139.52,
                &[(1.74, 2.25), (2.25, 2.37), (2.37, 2.85)],
            ),
        ],
        &rule,
    );
    assert!(split.accepted);
    assert!(split.merged);
    assert_eq!(
        split
            .alternatives
            .iter()
            .map(|c| c.verdict)
            .collect::<Vec<_>>(),
        [Verdict::Match, Verdict::NotChecked]
    );
    let tail = decide(
        &[(
            "하얀 말 말",
            121.44,
            &[(1.83, 2.16), (2.16, 2.28), (2.28, 2.70)],
        )],
        &rule,
    );
    assert!(tail.accepted && tail.merged);
    // 하얀 작은 말 heard with its middle word as 하얀, 0.18 s after the
    // first (tuning voice ko+f2 at 175): apart, so not merged.
    let apart = decide(
        &[
            (
                "하얀 하얀 말",
                99.16,
                &[(1.41, 1.83), (2.01, 2.22), (2.22, 2.55)],
            ),
            (
                "하얀 둘 말",
                98.44,
                &[(1.41, 2.01), (2.04, 2.25), (2.25, 2.55)],
            ),
        ],
        &rule,
    );
    assert!(!apart.accepted);
    assert_eq!(apart.alternatives[0].verdict, Verdict::WordsInside);
    // One 30 ms step apart is apart too.
    assert!(
        !decide(
            &[(
                "하얀 하얀 말",
                60.0,
                &[(1.41, 1.98), (2.01, 2.22), (2.22, 2.58)]
            )],
            &rule
        )
        .accepted
    );
    let wider = MatchRule {
        repeat_max_gap: 0.2,
        ..rule
    };
    assert!(
        decide(
            &[(
                "하얀 하얀 말",
                99.16,
                &[(1.41, 1.83), (2.01, 2.22), (2.22, 2.55)]
            )],
            &wider
        )
        .accepted
    );
    // What passes as heard is not decided again.
    let heard = decide(&[("하얀 말", 60.0, &[(1.0, 1.4), (1.4, 1.8)])], &rule);
    assert!(heard.accepted && !heard.merged);
    // Merging does not make a near miss pass: the rival is still there.
    assert!(
        !decide(
            &[
                ("하얀 하얀 말", 60.0, &[(1.0, 1.2), (1.2, 1.4), (1.4, 1.8)]),
                ("노란 말", 59.8, &[(1.0, 1.4), (1.4, 1.8)]),
            ],
            &rule
        )
        .accepted
    );
    // Unknown words are never merged, nor different words.
    let unknown: &[(f32, f32)] = &[(1.0, 1.2), (1.2, 1.3), (1.3, 1.4), (1.4, 1.8)];
    assert!(!decide(&[("하얀 [unk] [unk] 말", 60.0, unknown)], &rule).accepted);
    assert!(!decide(&[("하얀 말 하얀 말", 60.0, unknown)], &rule).accepted);
    // Off: the split word rejects.
    let off = MatchRule {
        merge_repeated_words: false,
        ..rule
    };
    let split_off = decide(
        &[(
            "하얀 하얀 말",
            140.64,
            &[(1.74, 2.16), (2.16, 2.37), (2.37, 2.76)],
        )],
        &off,
    );
    assert!(!split_off.accepted);
    assert_eq!(split_off.alternatives[0].verdict, Verdict::WordsInside);
    // A phrase that repeats a word itself still matches as heard.
    let doubled = PassphraseHasher::new(HashCost::minimum())
        .unwrap()
        .hash("말 말")
        .unwrap();
    let touching = timed(&[("말 말", 60.0, &[(1.0, 1.4), (1.4, 1.8)])]);
    assert!(doubled.decide_timed(touching, &rule).unwrap().accepted);
    let once = timed(&[("말", 60.0, &[(1.0, 1.8)])]);
    assert!(!doubled.decide_timed(once, &rule).unwrap().accepted);
}

#[test]
fn merged_words_keep_their_whole_span() {
    let spans = |times: &[(f32, f32)]| {
        times
            .iter()
            .map(|&(start, end)| WordSpan { start, end })
            .collect::<Vec<_>>()
    };
    let (text, merged) = merge_repeats(
        "하얀 하얀 말 [unk] [unk] 말",
        &spans(&[
            (0.9, 1.2),
            (1.2, 1.6),
            (1.6, 2.0),
            (2.0, 2.1),
            (2.1, 2.2),
            (2.2, 2.4),
        ]),
        0.0,
    );
    assert_eq!(text, "하얀 말 [unk] [unk] 말");
    assert_eq!(
        merged,
        spans(&[(0.9, 1.6), (1.6, 2.0), (2.0, 2.1), (2.1, 2.2), (2.2, 2.4)])
    );
    // Compared as matching sees words; three pieces are one word.
    let (text, merged) = merge_repeats(
        "말 말! 말 소",
        &spans(&[(0.0, 0.3), (0.3, 0.5), (0.5, 0.9), (1.0, 1.2)]),
        0.0,
    );
    assert_eq!(text, "말 소");
    assert_eq!(merged, spans(&[(0.0, 0.9), (1.0, 1.2)]));
    // Spans that do not line up with the words: nothing is merged.
    let (text, merged) = merge_repeats("말 말 소", &spans(&[(0.0, 1.0)]), 0.0);
    assert_eq!(text, "말 말 소");
    assert_eq!(merged.len(), 1);
}

#[test]
fn decisions_over_unscored_alternatives() {
    let rule = MatchRule {
        extra_word_cost: 0.25,
        trailing_word_cost: 0.25,
        ..MatchRule::default()
    };
    let cases: &[(&[&str], bool)] = &[
        (&["하얀 말"], true),
        (&["[unk] 하얀 말"], true),
        (&["하얀 소", "하얀 말"], true),
        (&["하얀 말 아니요"], true),
        (&["바다 하얀 말"], true),
        (&["바다 하얀 말 아니요"], true),
        (&["하얀 소", "검은 말"], false),
        (&["하얀"], false),
        (&["말 하얀"], false),
        (&["하얀 바다 말"], false),
        // An unknown word inside the phrase is a mismatch.
        (&["하얀 [unk] 말"], false),
        (&["하얀 <unk> 말", "[unk] 말"], false),
        (&[""], false),
        (&[], false),
        (&["바다 소 하얀 말 아니요"], false),
    ];
    let stored = stored("하얀 말");
    for (alternatives, expected) in cases {
        assert_eq!(
            stored.matches_any(*alternatives, &rule).unwrap(),
            *expected,
            "{alternatives:?}"
        );
    }
}

#[test]
fn a_lower_alternative_counts_only_within_the_margin() {
    // The margin alone: words heard inside the phrase and rivals reject
    // on their own.
    let rule = MatchRule {
        reject_words_inside: false,
        min_lead: 0.0,
        ..MatchRule::default()
    };
    let stored = stored("하얀 말");
    // The near miss recognised as itself; "하얀 말" far below it.
    let near_miss = stored
        .decide([("하얀 둘 말", 81.46), ("하얀 말", 79.93)], &rule)
        .unwrap();
    assert!(!near_miss.accepted);
    assert_eq!(
        near_miss
            .alternatives
            .iter()
            .map(|c| c.verdict)
            .collect::<Vec<_>>(),
        // No run of it is the phrase; "하얀 말" is 1.53 below.
        [Verdict::NoMatch, Verdict::NotCounted]
    );
    assert!((near_miss.alternatives[1].below_best - 1.53).abs() < 0.01);
    // The true phrase a hair below a misrecognition.
    let close = stored
        .decide([("하얀 하나", 62.34), ("하얀 말", 62.05)], &rule)
        .unwrap();
    assert!(close.accepted);
    assert_eq!(close.alternatives[1].verdict, Verdict::Match);
}

#[test]
fn extra_words_at_the_edges_cost_score() {
    let rule = MatchRule {
        margin: 0.5,
        extra_word_cost: 0.25,
        trailing_word_cost: 0.25,
        min_lead: 0.0,
        ..MatchRule::default()
    };
    let stored = stored("하얀 말");
    let decide = |alternatives: &[(&str, f32)]| {
        stored
            .decide(alternatives.iter().copied(), &rule)
            .unwrap()
            .accepted
    };
    assert!(decide(&[("하얀 말 아니요", 50.0)]), "one edge word: 0.25");
    assert!(decide(&[("바다 하얀 말 아니요", 50.0)]), "two: 0.5");
    assert!(
        !decide(&[("바다 하얀 말 아니요 네", 50.0)]),
        "three is over max_extra_words"
    );
    assert!(
        !decide(&[("소", 50.0), ("하얀 말 아니요", 49.7)]),
        "0.3 below plus one edge word is 0.55"
    );
    assert!(decide(&[("소", 50.0), ("하얀 말", 49.7)]));
}

#[test]
fn argon2_runs_are_distinct_and_capped() {
    let rule = MatchRule {
        max_candidates: 3,
        extra_word_cost: 0.0,
        trailing_word_cost: 0.0,
        min_lead: 0.0,
        ..MatchRule::default()
    };
    let stored = stored("x y");
    let decision = stored
        .decide(
            [("a b", 0.0), ("b c", 0.0), ("a b", 0.0), ("x y", 0.0)],
            &rule,
        )
        .unwrap();
    // "a b", "b c" and "a b" again: two runs hashed, then "x y" is the
    // third.
    assert!(decision.accepted);
    let capped = MatchRule {
        max_candidates: 2,
        ..rule
    };
    // "a b c": "a c" (words inside), "a b" and "b c" spend a budget of 3.
    let decision = stored
        .decide([("a b c", 0.0), ("x y", 0.0)], &rule)
        .unwrap();
    assert!(!decision.accepted);
    assert_eq!(decision.alternatives[1].verdict, Verdict::NotChecked);
    let decision = stored
        .decide([("a b c", 0.0), ("x y", 0.0)], &capped)
        .unwrap();
    assert!(!decision.accepted);
    assert_eq!(decision.alternatives[1].verdict, Verdict::NotChecked);
}

#[test]
fn words_heard_inside_the_phrase_reject_weaker_alternatives() {
    // Alternatives above the match only: `inside_lead` weighs those
    // below it.
    let rule = MatchRule {
        min_lead: 0.0,
        inside_lead: 0.0,
        ..MatchRule::default()
    };
    let stored = stored("하얀 말");
    let decide =
        |alternatives: &[(&str, f32)]| stored.decide(alternatives.iter().copied(), &rule).unwrap();
    // A near miss with a word inserted, heard as such, and "하얀 말"
    // close behind: the inserted word was heard, so it is rejected.
    let inserted = decide(&[("하얀 네 검은 말", 60.0), ("하얀 말", 59.8)]);
    assert!(!inserted.accepted);
    assert_eq!(
        inserted
            .alternatives
            .iter()
            .map(|c| c.verdict)
            .collect::<Vec<_>>(),
        [Verdict::WordsInside, Verdict::NotChecked]
    );
    assert!(!decide(&[("하얀 [unk] 말", 60.0), ("하얀 말", 59.9)]).accepted);
    // Below the phrase, or around it rather than inside, it changes
    // nothing.
    assert!(decide(&[("하얀 말", 60.0), ("하얀 네 말", 59.9)]).accepted);
    assert!(decide(&[("하얀 말 네", 60.0), ("하얀 말", 59.8)]).accepted);
    assert!(decide(&[("네 하얀 말", 60.0), ("하얀 말", 59.8)]).accepted);
    // More words inside than max_extra_words is another phrase.
    assert!(decide(&[("하얀 네 둘 셋 말", 60.0), ("하얀 말", 59.8)]).accepted);
    // Off, the weaker alternative passes as before.
    let off = MatchRule {
        reject_words_inside: false,
        ..rule
    };
    assert!(
        stored
            .decide([("하얀 네 말", 60.0), ("하얀 말", 59.8)], &off)
            .unwrap()
            .accepted
    );
}

#[test]
fn a_rival_close_to_the_match_rejects_it() {
    let rule = MatchRule {
        min_lead: 1.0,
        ..MatchRule::default()
    };
    let stored = stored("하얀 말");
    let decide =
        |alternatives: &[(&str, f32)]| stored.decide(alternatives.iter().copied(), &rule).unwrap();
    // "파란 말" heard as the phrase with another colour close behind.
    let close = decide(&[("하얀 말", 131.30), ("노란 말", 130.84)]);
    assert!(!close.accepted);
    assert_eq!(
        close
            .alternatives
            .iter()
            .map(|c| c.verdict)
            .collect::<Vec<_>>(),
        [Verdict::Match, Verdict::Rival]
    );
    // A rival above, within min_lead, rejects too: what is below it could
    // not lead it, so it is not even searched.
    let above = decide(&[("노란 말", 148.29), ("하얀 말", 147.98)]);
    assert!(!above.accepted);
    assert_eq!(
        above
            .alternatives
            .iter()
            .map(|c| c.verdict)
            .collect::<Vec<_>>(),
        [Verdict::NoMatch, Verdict::NotChecked]
    );
    // Clear of every rival, or the rivals carry the phrase: accepted.
    assert!(decide(&[("하얀 말", 131.30), ("노란 말", 130.20)]).accepted);
    assert!(decide(&[("하얀 말", 57.58), ("하얀 말 소", 57.13)]).accepted);
    assert!(decide(&[("하얀 말", 60.0)]).accepted);
    // Off at 0: the same close rival passes.
    let off = MatchRule {
        min_lead: 0.0,
        ..rule
    };
    assert!(
        stored
            .decide([("하얀 말", 131.30), ("노란 말", 130.84)], &off)
            .unwrap()
            .accepted
    );
}

#[test]
fn the_default_lead_separates_the_measured_cases() {
    // Scores from the tuning set: "파란 말" heard as the phrase with
    // "노란 말" 0.57 behind it, and the true phrase with its nearest
    // rival 0.71 behind.
    let stored = stored("하얀 말");
    let rule = MatchRule::default();
    let decide = |alternatives: &[(&str, f32)]| {
        stored
            .decide(alternatives.iter().copied(), &rule)
            .unwrap()
            .accepted
    };
    assert!(!decide(&[("하얀 말", 119.87), ("노란 말", 119.30)]));
    assert!(decide(&[("하얀 말", 59.55), ("아니요 말", 58.79)]));
    // The rarer true phrase with a word heard inside it close behind is
    // what `inside_lead` costs.
    assert!(!decide(&[("하얀 말", 99.07), ("하얀 노란 말", 98.36)]));
}

#[test]
fn a_word_heard_inside_the_phrase_just_below_the_match_rejects_it() {
    let stored = stored("하얀 말");
    let rule = MatchRule::default();
    let decide = |alternatives: &[(&str, f32)], rule: &MatchRule| {
        stored.decide(alternatives.iter().copied(), rule).unwrap()
    };
    // "하얀 작은 말" heard as the phrase, the inserted word 1.18 below
    // (tuning voice ko+m3 at 175 words/min): rejected.
    let inserted = decide(
        &[
            ("하얀 말", 104.21),
            ("하얀 둘 말", 103.03),
            ("하얀 집 말", 102.87),
        ],
        &rule,
    );
    assert!(!inserted.accepted);
    assert_eq!(
        inserted
            .alternatives
            .iter()
            .map(|c| c.verdict)
            .collect::<Vec<_>>(),
        [Verdict::Match, Verdict::WordsInside, Verdict::WordsInside]
    );
    // Within min_lead too, though it holds the phrase ("하얀 멋진 말",
    // an impostor, heard so).
    assert!(!decide(&[("하얀 말", 60.49), ("하얀 말 말", 60.08)], &rule).accepted);
    // Further below, or words around the phrase rather than inside it:
    // accepted.
    assert!(decide(&[("하얀 말", 104.21), ("하얀 둘 말", 102.60)], &rule).accepted);
    assert!(decide(&[("하얀 말", 104.21), ("하얀 말 둘", 103.50)], &rule).accepted);
    // More words inside than max_extra_words is another phrase.
    assert!(decide(&[("하얀 말", 104.21), ("하얀 네 둘 셋 말", 103.50)], &rule).accepted);
    // Off at 0.
    let off = MatchRule {
        inside_lead: 0.0,
        ..rule
    };
    assert!(decide(&[("하얀 말", 104.21), ("하얀 둘 말", 103.03)], &off).accepted);
    // On without min_lead.
    let alone = MatchRule {
        min_lead: 0.0,
        ..rule
    };
    assert!(!decide(&[("하얀 말", 104.21), ("하얀 둘 말", 103.03)], &alone).accepted);
}

#[test]
fn a_rival_the_budget_leaves_unsearched_rejects() {
    let rule = MatchRule {
        min_lead: 1.0,
        max_candidates: 1,
        extra_word_cost: 0.0,
        trailing_word_cost: 0.0,
        ..MatchRule::default()
    };
    let stored = stored("x y");
    // "x y" spends the budget; "a b" cannot be searched.
    let decision = stored.decide([("x y", 10.0), ("a b", 9.5)], &rule).unwrap();
    assert!(!decision.accepted);
    assert_eq!(decision.alternatives[1].verdict, Verdict::Rival);
}

#[test]
fn split_runs_have_a_gap_and_a_bounded_span() {
    let mut seen = Vec::new();
    split_runs(5, 2, 4, &mut Vec::new(), &mut |r| seen.push(r.to_vec()));
    assert_eq!(
        seen,
        [vec![0, 2], vec![0, 3], vec![1, 3], vec![1, 4], vec![2, 4]]
    );
    let mut three = Vec::new();
    split_runs(4, 3, 4, &mut Vec::new(), &mut |r| three.push(r.to_vec()));
    assert_eq!(three, [vec![0, 1, 3], vec![0, 2, 3]]);
}

#[test]
fn a_whole_alternative_shorter_than_the_phrase_is_still_tried() {
    // A hash stored with a wrong word count must still accept the exact
    // phrase rather than lock its owner out.
    let stored = StoredPassphrase::from_parts(stored("white horse").phc().to_string(), 3).unwrap();
    assert!(stored
        .matches_any(["white horse"], &MatchRule::default())
        .unwrap());
}

#[test]
fn the_rule_reads_from_toml_with_defaults() {
    let rule: MatchRule = toml::from_str("margin = 1.5\nmin_lead = 0.5").unwrap();
    assert_eq!(rule.margin, 1.5);
    assert_eq!(rule.min_lead, 0.5);
    assert_eq!(rule.max_candidates, MatchRule::default().max_candidates);
    assert!(toml::from_str::<MatchRule>("margn = 1").is_err());
    let syllables: MatchRule =
        toml::from_str("count_syllables = false\nmax_extra_syllables = 1\nsyllable_slack = 0.2")
            .unwrap();
    assert!(!syllables.count_syllables);
    assert_eq!(syllables.max_extra_syllables, 1);
    assert_eq!(syllables.syllable_slack, 0.2);
}

#[test]
fn more_syllables_heard_within_the_phrase_than_it_has_reject() {
    let stored = stored("하얀 말");
    let rule = MatchRule::default();
    assert!(rule.count_syllables && rule.max_extra_syllables == 0);
    // "하얀 말" over 1.0-1.8 s: three syllables.
    let heard: &[Heard] = &[("하얀 말", 60.0, &[(1.0, 1.4), (1.4, 1.8)])];
    let decide =
        |nuclei: &[f32], rule: &MatchRule| stored.decide_heard(timed(heard), nuclei, rule).unwrap();
    // Three nuclei inside, others before and after the run (a word said
    // first, a cough after): accepted, and the count is reported.
    let three = decide(&[0.4, 1.1, 1.3, 1.6, 2.3], &rule);
    assert!(three.accepted);
    assert_eq!(three.alternatives[0].nuclei, Some(3));
    assert_eq!(three.alternatives[0].timing.unwrap().syllables, 3);
    // "하얀 멋진 말" heard as "하얀 말": the two syllables left out are
    // still in the audio.
    let five = [1.05, 1.25, 1.45, 1.6, 1.75];
    let left_out = decide(&five, &rule);
    assert!(!left_out.accepted);
    assert_eq!(left_out.alternatives[0].verdict, Verdict::ExtraSyllables);
    assert_eq!(left_out.alternatives[0].nuclei, Some(5));
    // Off, or two extra allowed, or no nuclei measured: accepted.
    let off = MatchRule {
        count_syllables: false,
        ..rule
    };
    assert!(decide(&five, &off).accepted);
    assert_eq!(decide(&five, &off).alternatives[0].nuclei, None);
    let two = MatchRule {
        max_extra_syllables: 2,
        ..rule
    };
    assert!(decide(&five, &two).accepted);
    assert!(decide(&[], &rule).accepted);
    assert!(stored.decide_timed(timed(heard), &rule).unwrap().accepted);
    // The slack: a nucleus 0.08 s past the last word's end is the run's,
    // one 0.15 s past is not.
    assert!(!decide(&[1.1, 1.3, 1.6, 1.88], &rule).accepted);
    assert!(decide(&[1.1, 1.3, 1.6, 1.95], &rule).accepted);
    let tight = MatchRule {
        syllable_slack: 0.0,
        ..rule
    };
    assert!(decide(&[1.1, 1.3, 1.6, 1.88], &tight).accepted);
    // A weaker alternative with the phrase must not pass instead.
    let two_readings: &[Heard] = &[
        ("하얀 말", 60.0, &[(1.0, 1.4), (1.4, 1.8)]),
        ("하얀 말", 59.9, &[(1.0, 1.2), (1.2, 1.4)]),
    ];
    let decision = stored
        .decide_heard(timed(two_readings), &five, &rule)
        .unwrap();
    assert!(!decision.accepted);
    assert_eq!(
        decision
            .alternatives
            .iter()
            .map(|c| c.verdict)
            .collect::<Vec<_>>(),
        [Verdict::ExtraSyllables, Verdict::NotChecked]
    );
}

#[test]
fn a_word_repeated_is_merged_only_with_the_syllables_it_has() {
    // Slow speech split "하얀" in two ("하얀 하얀 말", three nuclei); "하얀
    // 새 말" came out the same with four. Merging repeats with the
    // syllables counted takes the first and turns the second away.
    let stored = stored("하얀 말");
    let rule = MatchRule {
        merge_repeated_words: true,
        count_syllables: true,
        ..MatchRule::default()
    };
    let heard: &[Heard] = &[("하얀 하얀 말", 60.0, &[(1.0, 1.3), (1.3, 1.6), (1.6, 2.0)])];
    let decide = |nuclei: &[f32]| stored.decide_heard(timed(heard), nuclei, &rule).unwrap();
    let slow = decide(&[1.1, 1.45, 1.8]);
    assert!(slow.accepted && slow.merged);
    assert!(!decide(&[1.1, 1.35, 1.55, 1.8]).accepted);
}

#[test]
fn argon2_is_spent_only_where_it_can_change_the_decision() {
    let stored = stored("하얀 말");
    let rule = MatchRule::default();
    // The best alternative, searched, is not the phrase: an alternative
    // within min_lead below it could only be its rival's loser, so it is
    // not searched. One verification, and the same "no" as searching it.
    let outled = stored
        .decide([("검은 소", 60.0), ("하얀 말", 59.9)], &rule)
        .unwrap();
    assert!(!outled.accepted);
    assert_eq!(outled.verifications, 1);
    assert_eq!(outled.alternatives[1].verdict, Verdict::NotChecked);
    let searched = stored
        .decide(
            [("검은 소", 60.0), ("하얀 말", 59.9)],
            &MatchRule {
                min_lead: 0.0,
                ..rule
            },
        )
        .unwrap();
    assert!(searched.accepted, "without min_lead the lower one may pass");
    assert_eq!(searched.verifications, 2);
    // Once a run has verified, every other run is compared with it as
    // text: the rivals within min_lead and inside_lead cost nothing more.
    let clear = stored
        .decide(
            [
                ("하얀 말", 60.0),
                ("하얀 말 네", 59.9),
                ("하얀 작은 말", 58.7),
                ("파란 소", 57.0),
            ],
            &rule,
        )
        .unwrap();
    assert!(
        !clear.accepted,
        "a word inside the phrase within inside_lead"
    );
    assert_eq!(clear.alternatives[2].verdict, Verdict::WordsInside);
    assert_eq!(clear.verifications, 1);
    let accepted = stored
        .decide(
            [("하얀 말", 60.0), ("하얀 말 네", 59.9), ("파란 소", 57.0)],
            &rule,
        )
        .unwrap();
    assert!(accepted.accepted);
    assert_eq!(accepted.verifications, 1);
}
