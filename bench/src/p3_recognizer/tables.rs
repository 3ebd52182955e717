//! The P3 report's text: tables and notes built from what was measured.

use super::*;

pub(super) fn intro(
    model_dir: &std::path::Path,
    load_time: Duration,
    utterances: &[Arc<Utterance>],
    product: &ListenOptions,
) -> String {
    let speech: Duration = utterances
        .iter()
        .map(|u| speech::FRAME * (u.last_speech as u32 + 1))
        .sum();
    let cost = HashCost::default();
    format!(
        "Model `{}` (loaded in {:.1} s), {} utterances of espeak-ng Korean (voices ko, ko+f2, \
         ko+m3; the passphrase \"{PASSPHRASE}\" and other phrases from the vocabulary; {:.1} s of \
         audio up to \
         the end of speech in all), passed through G.711 µ-law at 8 kHz and the media crate's \
         8 → 16 kHz frame resampler as a PCMU call's audio is. Product settings, as shipped: \
         end-pointer `end_silence` {} ms, `max_alternatives` {}, recognizer pool of {} workers \
         (one per core) admitting {} sessions, Argon2id m={} KiB t={} p={}.\n\n\
         Real-time factors are process CPU time over audio time (from /proc, so other load on \
         the machine does not inflate them). \"Paced\" streams get one 20 ms frame every 20 ms \
         of wall time from a tokio task that also awaits the session's events, as a call does.\n\n",
        model_dir.display(),
        load_time.as_secs_f64(),
        utterances.len(),
        speech.as_secs_f64(),
        product.endpointer.end_silence.as_millis(),
        product.max_alternatives,
        RecognizerConfig::default().workers,
        RecognizerConfig::default().max_sessions,
        cost.memory_kib,
        cost.iterations,
        cost.parallelism,
    )
}

pub(super) fn results_table(
    modes: &[Mode],
    batched: &[Vec<Batched>],
    m: &Measured,
    cores: usize,
    product: &ListenOptions,
) -> String {
    let mut rows = Vec::new();
    for (i, mode) in modes.iter().enumerate() {
        let vocab = i == 0;
        // (a) paced: CPU from session start to final result, per utterance.
        let runs = &m.decided[i];
        let cpu: Duration = runs.iter().map(|d| d.cpu).sum();
        let audio: Duration = runs.iter().map(|d| d.paced.transcript.audio).sum();
        let worst = runs
            .iter()
            .filter_map(|d| ratio(d.cpu, d.paced.transcript.audio))
            .fold(0.0f64, f64::max);
        let aggregate = ratio(cpu, audio).unwrap_or(f64::NAN);
        // The same measure at another moment of the run: on a shared
        // machine, cache contention moves CPU time too.
        let again = m.ladders[i]
            .iter()
            .find(|s| s.k == 1)
            .and_then(|s| cpu_per_audio(&s.load))
            .map_or(String::new(), |r| format!("; {r:.3} in (b) at K = 1"));
        rows.push(vec![
            "(a) real-time factor, one stream".into(),
            mode.name.into(),
            format!(
                "paced, one utterance at a time ({}): process CPU ÷ audio, all together \
                 (worst utterance; the same measure in (b) at K = 1, later in the run)",
                runs.len()
            ),
            format!("{aggregate:.3} ({worst:.3}){again}"),
            goal_text(vocab, format!("≤ {RTF_GOAL}")),
            if vocab {
                pass(aggregate <= RTF_GOAL && worst <= RTF_GOAL)
            } else {
                "—".into()
            },
        ]);
        let opens = Summary::of(runs.iter().map(|d| d.open).collect());
        rows.push(vec![
            "opening a session".into(),
            mode.name.into(),
            format!(
                "`Recognizer::start` (a Vosk recognizer, and the grammar's graph in \
                 vocabulary mode) before each paced turn; p50 / p95 / max of {}",
                runs.len()
            ),
            opens.map_or("—".into(), |s| s.show()),
            "—".into(),
            "—".into(),
        ]);
        let b = &batched[i];
        let b_cpu: Duration = b.iter().map(|r| r.cpu).sum();
        let b_audio: Duration = b.iter().map(|r| r.audio).sum();
        rows.push(vec![
            "(a) same, frames batched".into(),
            mode.name.into(),
            format!(
                "{} utterances pushed unpaced to one worker: process CPU ÷ audio (partial \
                 results every 10 frames instead of every frame)",
                b.len()
            ),
            format!("{:.3}", ratio(b_cpu, b_audio).unwrap_or(f64::NAN)),
            "—".into(),
            "—".into(),
        ]);
        let steps = &m.ladders[i];
        let best = steps.iter().rev().find(|s| s.kept_up);
        let capacity = match best {
            Some(Step { k, load, .. }) => {
                let per_core = cpu_per_audio(load).map_or(f64::NAN, |r| 1.0 / r);
                format!(
                    "{per_core:.1} streams per core at K = {k} (≈ {:.0} on {cores} free cores)",
                    per_core * cores as f64
                )
            }
            None => "did not keep up even with one stream".into(),
        };
        let stopped = steps
            .last()
            .filter(|s| !s.kept_up)
            .map_or(String::new(), |s| {
                format!(
                    "; K = {} fell behind with {:.2} cores busy",
                    s.k,
                    ratio(s.load.cpu, s.load.wall).unwrap_or(f64::NAN)
                )
            });
        rows.push(vec![
            "(b) real-time streams per core".into(),
            mode.name.into(),
            format!(
                "K paced streams at once on the product's pool ({} workers): audio ÷ process \
                 CPU at the largest K that kept up (no session over its backlog, p95 \
                 finalisation lag at most {} over one stream's)",
                RecognizerConfig::default().workers,
                ms(KEPT_UP_LAG)
            ),
            capacity + &stopped,
            "—".into(),
            "—".into(),
        ]);
        let lat = Summary::of(latencies(runs).iter().map(|l| l.total).collect());
        rows.push(vec![
            "(c) end of speech → decision".into(),
            mode.name.into(),
            format!(
                "paced, last speech frame fed → passphrase check done (store + Argon2id); \
                 p50 / p95 / max of {}; decisions right {}/{}{}",
                latencies(runs).len(),
                correct(runs),
                runs.len(),
                cut_off_note(runs)
            ),
            lat.map_or("no end of speech detected".into(), |s| s.show()),
            "—".into(),
            "—".into(),
        ]);
        // The goal is about a caller who said the answer: other phrases are
        // ended by the full `end_silence` unless all their words are in the
        // vocabulary (they then count as a complete answer too).
        let said: Vec<Duration> = runs
            .iter()
            .filter(|d| d.paced.utterance.script.passphrase)
            .filter_map(Decided::latency)
            .map(|l| l.total)
            .collect();
        let said_count = said.len();
        let said = Summary::of(said);
        rows.push(vec![
            "(c) end of speech → decision, the passphrase said".into(),
            mode.name.into(),
            format!(
                "as above, the {said_count} utterances of the passphrase only (the turn ends \
                 {} after the account's word count is heard); p50 / p95 / max",
                ms(product.endpointer.end_silence_when_complete)
            ),
            said.map_or("no end of speech detected".into(), |s| s.show()),
            goal_text(vocab, format!("≤ {} (p50)", ms(DECISION_GOAL))),
            if vocab {
                pass(said.is_some_and(|s| s.p50 <= DECISION_GOAL))
            } else {
                "—".into()
            },
        ]);
    }
    let what_if = Summary::of(latencies(&m.what_if).iter().map(|l| l.total).collect());
    rows.push(vec![
        format!(
            "(c) word count unknown (a CRM account): `end_silence` {} only",
            ms(product.endpointer.end_silence)
        ),
        modes[0].name.into(),
        format!(
            "as (c); decisions right {}/{}{}",
            correct(&m.what_if),
            m.what_if.len(),
            cut_off_note(&m.what_if)
        ),
        what_if.map_or("no end of speech detected".into(), |s| s.show()),
        format!("≤ {}", ms(DECISION_GOAL)),
        "(CRM accounts)".into(),
    ]);
    format!(
        "{}\n{}",
        table(
            &["measure", "mode", "method", "result", "goal", "pass"],
            &rows
        ),
        paced_vs_batched(m, batched)
    )
}

/// Why a live call costs more than the same audio batched.
pub(super) fn paced_vs_batched(m: &Measured, batched: &[Vec<Batched>]) -> String {
    let paced = |runs: &[Decided]| {
        ratio(
            runs.iter().map(|d| d.cpu).sum(),
            runs.iter().map(|d| d.paced.transcript.audio).sum(),
        )
    };
    let batch = |runs: &[Batched]| {
        ratio(
            runs.iter().map(|r| r.cpu).sum(),
            runs.iter().map(|r| r.audio).sum(),
        )
    };
    match (
        m.decided.first().and_then(|r| paced(r)),
        batched.first().and_then(|r| batch(r)),
    ) {
        (Some(p), Some(b)) if p > b * 1.1 => format!(
            "In vocabulary mode a paced stream costs {:.1}× the same audio batched ({p:.3} against \
             {b:.3}). A paced session hands Vosk speech in 100 ms pieces (fed frame by frame, \
             Vosk spent 10 to 35 % more on the same audio), partial results go on audio time (every \
             10 frames), and the early end of turn adds one partial every other frame of a pause. \
             What is left is the paced path itself: a worker woken, the session locked and the \
             end-pointer run for every 20 ms frame, the pacing task's own timer, and Vosk \
             starting each piece with caches another thread has used since, all counted in the \
             process CPU. Streams running together share part of it: see (b).\n\n",
            p / b
        ),
        _ => String::new(),
    }
}

pub(super) fn cut_off_note(runs: &[Decided]) -> String {
    match runs.iter().filter(|d| d.paced.cut_off()).count() {
        0 => String::new(),
        n => format!(
            "; **{n} turn{} ended before the speech did** (the end-pointer took a pause or a \
             long steady vowel for silence; not in the latencies)",
            if n == 1 { "" } else { "s" }
        ),
    }
}

pub(super) fn goal_text(vocab: bool, goal: String) -> String {
    if vocab {
        goal
    } else {
        "— (product runs vocabulary mode)".into()
    }
}

pub(super) fn decomposition(modes: &[Mode], m: &Measured, product: &ListenOptions) -> String {
    let mut rows = Vec::new();
    let mut runs: Vec<(&str, &[Decided])> = modes
        .iter()
        .zip(&m.decided)
        .map(|(mode, d)| (mode.name, d.as_slice()))
        .collect();
    let what_if_name = format!("{}, word count unknown", modes[0].short);
    runs.push((&what_if_name, &m.what_if));
    for (name, runs) in &runs {
        let l = latencies(runs);
        let part = |f: fn(&Latency) -> Duration| {
            Summary::of(l.iter().map(f).collect()).map_or("—".into(), |s| s.show())
        };
        rows.push(vec![
            name.to_string(),
            part(|l| l.end_pointer),
            part(|l| l.finalisation),
            part(|l| l.check),
            part(|l| l.total),
        ]);
    }
    let vocab = latencies(&m.decided[0]);
    let median = |f: fn(&Latency) -> Duration| {
        Summary::of(vocab.iter().map(f).collect()).map_or(Duration::ZERO, |s| s.p50)
    };
    let (wait, fin, check) = (
        median(|l| l.end_pointer),
        median(|l| l.finalisation),
        median(|l| l.check),
    );
    let rest = fin + check;
    let end_silence = product.endpointer.end_silence;
    // Per utterance: the end_silence at which this decision would have come
    // 300 ms after its speech, the rest of the path unchanged.
    let needed: Vec<Duration> = vocab
        .iter()
        .map(|l| {
            (DECISION_GOAL + end_silence).saturating_sub(l.finalisation + l.check + l.end_pointer)
        })
        .collect();
    let needed_every = needed.iter().min().map_or("—".into(), |d| ms(*d));
    let needed_median = Summary::of(needed).map_or("—".into(), |n| ms(n.p50));
    let verdict = if wait >= DECISION_GOAL {
        format!(
            "**The end-pointer dominates.** `end_silence` = {} ms (crates/asr/src/endpointer.rs, \
             `EndpointerConfig::default()`; Passgate takes it through `listen: \
             ListenOptions::default()` in crates/passgate/src/server.rs) makes the decision wait \
             {} (median) after the last speech frame before recognition even finishes, so {} \
             after end of speech is impossible at this setting whatever the rest costs. (The wait \
             differs from `end_silence` where the end-pointer's last voiced frame is not ours: a \
             fading tail it still takes for voice makes it longer; a long steady final vowel, which \
             its steady-noise rule takes for noise, makes it shorter.) The rest of the path, \
             recognizer finalisation {} + passphrase check {} (medians), is {}. For the decision \
             to come within {} of the end of speech, `end_silence` would have to be at most {} \
             for the median utterance here and {} for every one.",
            end_silence.as_millis(),
            ms(wait),
            ms(DECISION_GOAL),
            ms(fin),
            ms(check),
            ms(rest),
            ms(DECISION_GOAL),
            needed_median,
            needed_every,
        )
    } else {
        format!(
            "End-pointer wait {} (the turn ends after `end_silence_when_complete` = {} ms once the \
             passphrase's word count is heard, else after `end_silence` = {} ms), recognizer \
             finalisation {}, passphrase check {} (medians).",
            ms(wait),
            product.endpointer.end_silence_when_complete.as_millis(),
            end_silence.as_millis(),
            ms(fin),
            ms(check)
        )
    };
    format!(
        "### (c) End of speech → decision, decomposed\n\n\
         Each part as p50 / p95 / max. End-pointer wait: last frame with speech (RMS within \
         {} dB of the utterance's loudest frame and above the end-pointer's {} dBFS floor) fed \
         → the frame that made the end-pointer fire fed. Finalisation: that frame fed → the \
         final result in the call task. Check: the account \
         store read and Argon2id on a blocking thread, as `Services::verify_passphrase` does; \
         one Argon2id verification at the production cost takes {} here, and a phrase that does \
         not match is tried for every candidate run of words in the N-best list (up to {} \
         verifications).\n\n{}\n{}\n\n",
        speech::SPEECH_RANGE_DB,
        product.endpointer.min_level_dbfs,
        ms(m.argon2),
        MatchRule::default().max_candidates,
        table(
            &[
                "run",
                "end-pointer wait",
                "recognizer finalisation",
                "passphrase check",
                "end of speech → decision"
            ],
            &rows
        ),
        verdict
    )
}

pub(super) fn ladder_table(modes: &[Mode], ladders: &[Vec<Step>], cores: usize) -> String {
    let mut rows = Vec::new();
    for (mode, steps) in modes.iter().zip(ladders) {
        for Step {
            k,
            load: s,
            kept_up,
        } in steps
        {
            let rtf = cpu_per_audio(s);
            rows.push(vec![
                mode.short.into(),
                k.to_string(),
                format!("{:.2}", ratio(s.cpu, s.wall).unwrap_or(f64::NAN)),
                rtf.map_or("—".into(), |r| format!("{r:.3}")),
                rtf.map_or("—".into(), |r| format!("{:.1}", 1.0 / r)),
                lags(s).map_or("—".into(), |l| l.show()),
                format!("{} / {}", s.overloaded(), s.refused),
                if *kept_up { "yes" } else { "**no**" }.into(),
            ]);
        }
    }
    format!(
        "### (b) K paced streams at once\n\n\
         Starts spread over one 20 ms frame; each stream runs to its end-pointer. Cores busy = \
         process CPU ÷ wall (this machine has {cores}). The product's pool admits {} sessions at \
         once on this machine (cores × 8); the runs here raise that cap to K so the ladder can \
         go past it.\n\n{}\n",
        RecognizerConfig::default().max_sessions,
        table(
            &[
                "mode",
                "K",
                "cores busy",
                "CPU s per audio s",
                "streams per core",
                "finalisation lag p50 / p95 / max",
                "overloaded / refused",
                "kept up"
            ],
            &rows
        )
    )
}

pub(super) fn utterance_table(
    modes: &[Mode],
    utterances: &[Arc<Utterance>],
    m: &Measured,
) -> String {
    let mut rows = Vec::new();
    for (i, u) in utterances.iter().enumerate() {
        let mut row = vec![u.label(), ms(speech::FRAME * (u.last_speech as u32 + 1))];
        for runs in m.decided.iter().chain(std::iter::once(&m.what_if)) {
            row.push(runs.get(i).map_or("—".into(), describe));
        }
        rows.push(row);
    }
    let mut header = vec!["utterance".to_string(), "speech ends at".to_string()];
    header.extend(modes.iter().map(|m| m.short.to_string()));
    header.push("vocabulary, word count unknown".to_string());
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    format!(
        "### (c) Per utterance: decision, end of speech → decision\n\n{}",
        table(&header, &rows)
    )
}

pub(super) fn describe(d: &Decided) -> String {
    let check = match d.check {
        PassphraseCheck::Match => "match",
        PassphraseCheck::NoMatch => "no match",
        PassphraseCheck::Error => "error",
    };
    if d.paced.cut_off() {
        return format!("{check} (turn ended before the speech did)");
    }
    match (d.paced.transcript.reason, d.latency()) {
        (TurnEnd::EndOfSpeech, Some(l)) => format!("{check}, {}", ms(l.total)),
        (reason, _) => format!("{check} ({reason:?})"),
    }
}
