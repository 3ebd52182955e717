//! The disjoint sets the accuracy benchmark judges: their voices, speeds
//! and near-miss impostors, and what each is for.

use anyhow::bail;

/// Near misses: what an impostor who half-knows the phrase, or a caller
/// who misspeaks, says. The tuning set's.
const TUNING_IMPOSTORS: &[(&str, &str)] = &[
    ("파란 말", "one word changed"),
    ("하얀 소", "one word changed"),
    ("하얀 예쁜 말", "a word inserted"),
    ("하얀 작은 말", "a word inserted"),
    ("말 하얀", "words swapped"),
    ("하얀 고양이 검은 말", "the words inside a longer phrase"),
    // Words outside the vocabulary, which the decoder leaves out: the
    // near misses that pass most often.
    ("하얀 새 말", "a one-syllable word inserted"),
    ("하얀 긴 말", "a one-syllable word inserted"),
    ("하얀 빠른 말", "a word inserted"),
    ("하얀 착한 말", "a word inserted"),
];
/// The same kinds of near miss in other words (a two-word phrase has one
/// swap only), for REPORTING: no setting is chosen on them.
const REPORTING_IMPOSTORS: &[(&str, &str)] = &[
    ("노란 말", "one word changed"),
    ("하얀 개", "one word changed"),
    ("하얀 멋진 말", "a word inserted"),
    ("하얀 늙은 말", "a word inserted"),
    ("말 하얀", "words swapped"),
    ("하얀 나무 아래 말", "the words inside a longer phrase"),
];
/// The same kinds of near miss in words of their own, for the DEV set.
const DEV_IMPOSTORS: &[(&str, &str)] = &[
    ("검은 말", "one word changed"),
    ("하얀 집", "one word changed"),
    ("하얀 좋은 말", "a word inserted"),
    ("하얀 어린 말", "a word inserted"),
    ("하얀 큰 말", "a one-syllable word inserted"),
    ("말 하얀", "words swapped"),
    ("하얀 구름 위의 말", "the words inside a longer phrase"),
];
/// The same kinds again in words no other set has, for HOLDOUT.
const HOLDOUT_IMPOSTORS: &[(&str, &str)] = &[
    ("갈색 말", "one word changed"),
    ("하얀 닭", "one word changed"),
    ("하얀 젊은 말", "a word inserted"),
    ("하얀 꽃 말", "a one-syllable word inserted"),
    ("말 하얀", "words swapped"),
    ("하얀 벽 옆의 말", "the words inside a longer phrase"),
];
/// The same kinds once more, in words no other set has, for FRESH.
const FRESH_IMPOSTORS: &[(&str, &str)] = &[
    ("초록 말", "one word changed"),
    ("하얀 양", "one word changed"),
    ("하얀 귀여운 말", "a word inserted"),
    ("하얀 눈 말", "a one-syllable word inserted"),
    ("말 하얀", "words swapped"),
    ("하얀 문 앞의 말", "the words inside a longer phrase"),
];

/// The voices bench/passphrase_tuning.py chose `[passphrase]` on.
const TUNING_VOICES: &[&str] = &["ko", "ko+f2", "ko+m3"];
/// The voices the goals are judged on; no setting is chosen on them.
const REPORTING_VOICES: &[&str] = &["ko+f1", "ko+f4", "ko+m1", "ko+m5", "ko+m7"];
/// Voices in neither other set, to check a choice made on TUNING.
const DEV_VOICES: &[&str] = &["ko+m2", "ko+m4", "ko+m6", "ko+f3", "ko+f5"];
/// The last espeak-ng male variant and four named ones, in no other set.
const HOLDOUT_VOICES: &[&str] = &["ko+m8", "ko+Annie", "ko+edward", "ko+linda", "ko+steph"];
/// Words a minute: very slow (100 and 110), slow, espeak-ng's default,
/// brisk. Slow speech fails in its own ways (a word split in two, an edge
/// word, a long vowel with two peaks), so the tuning set has speeds below
/// every reporting one.
const TUNING_SPEEDS: &[u32] = &[100, 110, 130, 175, 210];
/// Between and around the tuning speeds.
const REPORTING_SPEEDS: &[u32] = &[120, 155, 195];
/// Slow to brisk, none of them another set's.
const DEV_SPEEDS: &[u32] = &[105, 125, 150, 185];
/// Slow to brisk again, none of them another set's.
const HOLDOUT_SPEEDS: &[u32] = &[115, 140, 170];
/// Five named espeak-ng variants in no other set, kept unseen by whoever
/// changes the rule: its details are not studied to choose anything.
const FRESH_VOICES: &[&str] = &["ko+Andy", "ko+Denis", "ko+david", "ko+belinda", "ko+klatt"];
/// Slow to brisk once more, none of them another set's.
const FRESH_SPEEDS: &[u32] = &[135, 160, 190];

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Set {
    Tuning,
    Dev,
    Reporting,
    Holdout,
    Fresh,
}

impl Set {
    pub(super) fn name(self) -> &'static str {
        match self {
            Set::Tuning => "TUNING",
            Set::Dev => "DEV",
            Set::Reporting => "REPORTING",
            Set::Holdout => "HOLDOUT",
            Set::Fresh => "FRESH",
        }
    }

    pub(super) fn voices(self) -> &'static [&'static str] {
        match self {
            Set::Tuning => TUNING_VOICES,
            Set::Dev => DEV_VOICES,
            Set::Reporting => REPORTING_VOICES,
            Set::Holdout => HOLDOUT_VOICES,
            Set::Fresh => FRESH_VOICES,
        }
    }

    pub(super) fn speeds(self) -> &'static [u32] {
        match self {
            Set::Tuning => TUNING_SPEEDS,
            Set::Dev => DEV_SPEEDS,
            Set::Reporting => REPORTING_SPEEDS,
            Set::Holdout => HOLDOUT_SPEEDS,
            Set::Fresh => FRESH_SPEEDS,
        }
    }

    pub(super) fn impostors(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Set::Tuning => TUNING_IMPOSTORS,
            Set::Dev => DEV_IMPOSTORS,
            Set::Reporting => REPORTING_IMPOSTORS,
            Set::Holdout => HOLDOUT_IMPOSTORS,
            Set::Fresh => FRESH_IMPOSTORS,
        }
    }

    /// The sets `BENCH_ACCURACY_SETS` asks for (all but DEV when unset).
    pub(super) fn chosen() -> anyhow::Result<Vec<Set>> {
        match std::env::var("BENCH_ACCURACY_SETS").ok().as_deref() {
            None | Some("") => Ok(vec![Set::Tuning, Set::Reporting, Set::Holdout, Set::Fresh]),
            Some("tuning") => Ok(vec![Set::Tuning]),
            Some("dev") => Ok(vec![Set::Dev]),
            Some("reporting") => Ok(vec![Set::Reporting]),
            Some("holdout") => Ok(vec![Set::Holdout]),
            Some("fresh") => Ok(vec![Set::Fresh]),
            Some("all") => Ok(vec![
                Set::Tuning,
                Set::Dev,
                Set::Reporting,
                Set::Holdout,
                Set::Fresh,
            ]),
            Some(other) => {
                bail!("BENCH_ACCURACY_SETS={other}: tuning, dev, reporting, holdout, fresh or all")
            }
        }
    }

    /// What the set is for, as the results table says it.
    pub(super) fn purpose(self) -> &'static str {
        match self {
            Set::Tuning => {
                "TUNING (the operating point was chosen on it, bench/passphrase_tuning.py)"
            }
            Set::Dev => "DEV (a choice made on TUNING is checked on it)",
            Set::Reporting => "REPORTING (never used to choose)",
            Set::Holdout => {
                "HOLDOUT (never used to choose, first judged after the rule as it stands was fixed)"
            }
            Set::Fresh => {
                "FRESH (never used to choose; made after HOLDOUT's errors had been studied, first judged with the rule as it stood then)"
            }
        }
    }
}
