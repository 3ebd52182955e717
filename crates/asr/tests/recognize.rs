//! The recognizer with the real Korean Vosk model and speech synthesised by
//! espeak-ng, fed in 20 ms frames as a call would feed it.
//!
//! The model is the one `models/install.sh ko` installs (`make test` runs it);
//! PASSGATE_TEST_MODEL points elsewhere.

use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use asr::{
    with_decoys, DecoderOptions, DecoyConfig, Filler, Lexicon, ListenOptions, RecognitionEvent,
    Recognizer, RecognizerConfig, SpeechModel, Transcript, TurnEnd, Vocabulary,
};

const PASSPHRASE: &str = "하얀 말";
const FRAME: usize = 320; // 20 ms at 16 kHz

fn model() -> SpeechModel {
    static MODEL: OnceLock<SpeechModel> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            SpeechModel::load(&asr::test_model_dir())
                .unwrap_or_else(|e| panic!("{e}: run `models/install.sh ko` (make test does)"))
        })
        .clone()
}

fn recognizer() -> Recognizer {
    Recognizer::new(
        model(),
        RecognizerConfig {
            workers: 2,
            max_sessions: 4,
            max_backlog: Duration::from_secs(30),
            worker_nice: 0,
        },
    )
}

/// The passphrase words and 18 decoys, as an operator's vocabulary file would list them.
fn vocabulary() -> Vocabulary {
    Vocabulary::from_words([
        "하얀",
        "말",
        "검은",
        "소",
        "바다",
        "하늘",
        "아니요",
        "네",
        "빨간",
        "자동차",
        "푸른",
        "나무",
        "작은",
        "고양이",
        "큰",
        "집",
        "하나",
        "둘",
        "셋",
        "노란",
    ])
}

enum Channel {
    /// 16-bit linear at 16 kHz, as a wideband call would deliver it.
    Wideband,
    /// Through G.711 µ-law at 8 kHz (a telephone line), then back to 16 kHz.
    Telephone,
}

/// espeak-ng speech, with 300 ms of silence before and 1.5 s after.
fn speech(text: &str, voice: &str, speed: u32, channel: Channel) -> Vec<i16> {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw.wav");
    let out = dir.path().join("out.wav");
    let status = Command::new("espeak-ng")
        .args(["-v", voice, "-s", &speed.to_string(), "-w"])
        .arg(&raw)
        .arg(text)
        .status()
        .expect("espeak-ng must be installed (make test installs it)");
    assert!(status.success());
    let sox = |args: &[&str]| {
        let status = Command::new("sox")
            .args(args)
            .status()
            .expect("sox must be installed");
        assert!(status.success(), "sox {args:?}");
    };
    let (raw_s, out_s) = (raw.to_str().unwrap(), out.to_str().unwrap());
    match channel {
        Channel::Wideband => sox(&[
            raw_s,
            "-r",
            "16000",
            "-c",
            "1",
            "-b",
            "16",
            "-e",
            "signed-integer",
            out_s,
        ]),
        Channel::Telephone => {
            let ulaw = dir.path().join("ulaw.wav");
            let ulaw_s = ulaw.to_str().unwrap();
            sox(&[raw_s, "-r", "8000", "-c", "1", "-e", "u-law", ulaw_s]);
            sox(&[
                ulaw_s,
                "-r",
                "16000",
                "-c",
                "1",
                "-b",
                "16",
                "-e",
                "signed-integer",
                out_s,
            ]);
        }
    }
    let mut samples = vec![0i16; 4800];
    samples.extend(
        hound::WavReader::open(&out)
            .unwrap()
            .samples::<i16>()
            .map(|s| s.unwrap()),
    );
    samples.extend(std::iter::repeat_n(0i16, 24000));
    samples
}

/// Streams `audio` in 20 ms frames and waits for the final transcript.
fn recognize(rec: &Recognizer, options: &ListenOptions, audio: &[i16]) -> Transcript {
    let mut session = rec.start(options).unwrap();
    for frame in audio.chunks(FRAME) {
        if rec.push(&session, frame).is_err() {
            break;
        }
    }
    rec.finish(&session);
    session.wait_final().expect("a final transcript")
}

fn vocabulary_mode() -> ListenOptions {
    ListenOptions {
        vocabulary: Some(vocabulary()),
        ..Default::default()
    }
}

fn heard(t: &Transcript, phrase: &str) -> bool {
    t.alternatives.iter().any(|a| a.text == phrase)
}

#[test]
fn the_passphrase_is_recognised_at_16k_in_vocabulary_mode() {
    let rec = recognizer();
    let t = recognize(
        &rec,
        &vocabulary_mode(),
        &speech(PASSPHRASE, "ko", 140, Channel::Wideband),
    );
    assert_eq!(t.reason, TurnEnd::EndOfSpeech, "{t:?}");
    assert!(heard(&t, PASSPHRASE), "{t:?}");
    assert_eq!(t.recognised, t.audio, "every frame decoded: {t:?}");
    assert!(t.processing < t.audio, "faster than real time: {t:?}");
}

#[test]
fn the_passphrase_is_recognised_through_g711_at_8k() {
    let rec = recognizer();
    for voice in ["ko", "ko+f2", "ko+m3"] {
        let t = recognize(
            &rec,
            &vocabulary_mode(),
            &speech(PASSPHRASE, voice, 140, Channel::Telephone),
        );
        assert!(heard(&t, PASSPHRASE), "{voice}: {t:?}");
    }
}

/// Slow speech: the model hears espeak-ng's slow "말" as "하나". Its own
/// narrow lattice holds that reading and its variants only; the product's
/// keeps "하얀 말" behind them, for the decision to judge once the syllable
/// count sets "하얀 하나" aside.
#[test]
fn the_products_lattice_keeps_the_readings_behind_a_slow_phrases_best() {
    let own = SpeechModel::load_with(model().path(), &DecoderOptions::model_own()).unwrap();
    let own = Recognizer::new(
        own,
        RecognizerConfig {
            workers: 1,
            max_sessions: 1,
            max_backlog: Duration::from_secs(30),
            worker_nice: 0,
        },
    );
    let options = vocabulary_mode();
    assert_eq!(options.max_alternatives, 20);
    let product = recognizer();
    let mut behind = Vec::new();
    // Which slow clips the narrow lattice loses the phrase on varies a
    // little from run to run (Vosk's online i-vector follows the pieces the
    // audio is fed in); ko+m3 at 100 words/min has lost it every time.
    for (voice, speed) in [("ko", 100), ("ko+m3", 100), ("ko+f2", 100), ("ko+m3", 110)] {
        let audio = speech(PASSPHRASE, voice, speed, Channel::Telephone);
        let narrow = recognize(&own, &options, &audio);
        let wide = recognize(&product, &options, &audio);
        assert!(
            wide.alternatives.len() >= narrow.alternatives.len(),
            "{voice} at {speed}: {wide:?} against {narrow:?}"
        );
        assert!(heard(&wide, PASSPHRASE), "{voice} at {speed}: {wide:?}");
        if !heard(&narrow, PASSPHRASE) {
            behind.push(voice);
        }
    }
    assert!(
        !behind.is_empty(),
        "the narrow lattice held the phrase every time"
    );
    // The overlay the options were loaded through is gone.
    let ours = format!("passgate-model-{}-", std::process::id());
    let left: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(&ours))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_different_phrase_is_not_heard_as_the_passphrase() {
    let rec = recognizer();
    for phrase in ["검은 소", "푸른 바다", "하얀 고양이"] {
        let t = recognize(
            &rec,
            &vocabulary_mode(),
            &speech(phrase, "ko", 140, Channel::Telephone),
        );
        assert!(!t.alternatives.is_empty(), "{phrase}: something was heard");
        assert!(!heard(&t, PASSPHRASE), "{phrase} accepted: {t:?}");
    }
}

#[test]
fn silence_and_noise_give_an_empty_result() {
    let rec = recognizer();
    let silence = vec![0i16; 16000 * 6];
    let t = recognize(&rec, &vocabulary_mode(), &silence);
    assert_eq!(
        (t.alternatives.len(), t.reason),
        (0, TurnEnd::NoSpeech),
        "{t:?}"
    );
    let mut seed = 12345u32;
    let noise: Vec<i16> = (0..16000 * 6)
        .map(|_| {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            ((seed >> 16) as i32 % 1601 - 800) as i16
        })
        .collect();
    for options in [vocabulary_mode(), ListenOptions::default()] {
        let t = recognize(&rec, &options, &noise);
        assert!(t.alternatives.is_empty(), "noise gave words: {t:?}");
    }
}

#[test]
fn the_same_recording_gets_the_same_scores_every_time_whatever_came_before() {
    // Kaldi's own dither draws from a generator the process shares: with
    // it the same audio scores differently each time (by several points),
    // and a decision near the margin follows what was decoded before.
    let rec = recognizer();
    let a = speech(PASSPHRASE, "ko+f1", 120, Channel::Telephone);
    let b = speech("작은 고양이", "ko+m3", 160, Channel::Telephone);
    let options = vocabulary_mode();
    let scores = |t: &Transcript| {
        t.alternatives
            .iter()
            .map(|a| (a.text.clone(), a.confidence.to_bits()))
            .collect::<Vec<_>>()
    };
    let first = scores(&recognize(&rec, &options, &a));
    assert!(!first.is_empty());
    let _ = recognize(&rec, &options, &b);
    let again = scores(&recognize(&rec, &options, &a));
    let third = scores(&recognize(&rec, &options, &a));
    assert_eq!(first, again);
    assert_eq!(first, third);
}

#[test]
fn two_calls_recognising_at_once_do_not_mix_results() {
    let rec = recognizer();
    let a = speech(PASSPHRASE, "ko", 140, Channel::Telephone);
    let b = speech("작은 고양이", "ko", 140, Channel::Telephone);
    let options = vocabulary_mode();
    let mut sa = rec.start(&options).unwrap();
    let mut sb = rec.start(&options).unwrap();
    let frames = a.len().max(b.len()).div_ceil(FRAME);
    for i in 0..frames {
        for (session, audio) in [(&sa, &a), (&sb, &b)] {
            if let Some(frame) = audio.chunks(FRAME).nth(i) {
                let _ = rec.push(session, frame);
            }
        }
    }
    rec.finish(&sa);
    rec.finish(&sb);
    let (ta, tb) = (sa.wait_final().unwrap(), sb.wait_final().unwrap());
    // The best reading of each is its own call's (a list of 20 may hold
    // any vocabulary word somewhere down it).
    let best = |t: &Transcript| {
        t.alternatives
            .first()
            .map_or(String::new(), |a| a.text.clone())
    };
    assert!(
        heard(&ta, PASSPHRASE) && !best(&ta).contains("고양이"),
        "{ta:?}"
    );
    assert!(
        best(&tb).contains("고양이") && !best(&tb).contains("하얀"),
        "{tb:?}"
    );
}

#[test]
fn full_vocabulary_mode_streams_partials_and_n_best_alternatives() {
    // With the whole Korean vocabulary, espeak-ng's Korean is not understood
    // (it comes out as other words: see the issue note); what is checked here is
    // the mode itself: partial results while speaking, then several scored
    // alternatives.
    let rec = recognizer();
    let audio = speech(PASSPHRASE, "ko", 140, Channel::Wideband);
    let mut session = rec.start(&ListenOptions::default()).unwrap();
    for frame in audio.chunks(FRAME) {
        let _ = rec.push(&session, frame);
    }
    rec.finish(&session);
    let mut partials = 0;
    let mut started = false;
    let final_t = loop {
        match session.wait_event() {
            Some(RecognitionEvent::SpeechStarted) => started = true,
            Some(RecognitionEvent::Partial(_)) => partials += 1,
            Some(RecognitionEvent::Final(t)) => break t,
            None => panic!("no final result"),
        }
    };
    assert!(started);
    assert!(partials > 0, "no partial results");
    assert!(final_t.alternatives.len() >= 2, "{final_t:?}");
    assert!(final_t
        .alternatives
        .iter()
        .all(|a| a.confidence > 0.0 && !a.text.is_empty()));
}

#[test]
fn a_full_pool_refuses_new_sessions_at_once() {
    let rec = Recognizer::new(
        model(),
        RecognizerConfig {
            workers: 1,
            max_sessions: 2,
            max_backlog: Duration::from_secs(1),
            worker_nice: 0,
        },
    );
    let options = vocabulary_mode();
    let s1 = rec.start(&options).unwrap();
    let _s2 = rec.start(&options).unwrap();
    assert!(matches!(rec.start(&options), Err(asr::AsrError::Busy(2))));
    drop(s1);
    assert!(
        rec.start(&options).is_ok(),
        "a slot frees when a session ends"
    );
}

#[test]
fn audio_waiting_for_a_busy_pool_shows_as_lag_which_falls_once_it_catches_up() {
    let rec = Recognizer::new(
        model(),
        RecognizerConfig {
            workers: 1,
            max_sessions: 8,
            max_backlog: Duration::from_secs(60),
            worker_nice: 0,
        },
    );
    assert_eq!(rec.lag(), Duration::ZERO);
    let audio = speech("하얀 말 하얀 말 하얀 말", "ko", 150, Channel::Wideband);
    // Eight callers' worth of speech arriving at once, frame by frame: one
    // worker takes far longer than the audio's arrival to get to the last.
    let mut sessions: Vec<_> = (0..8)
        .map(|_| rec.start(&vocabulary_mode()).unwrap())
        .collect();
    for frame in audio.chunks(320) {
        for s in &sessions {
            let _ = rec.push(s, frame);
        }
    }
    for s in &sessions {
        rec.finish(s);
    }
    let mut worst = Duration::ZERO;
    for s in &mut sessions {
        s.wait_final().unwrap();
        worst = worst.max(rec.lag());
    }
    assert!(
        worst >= Duration::from_millis(100),
        "audio waited {worst:?} for the one worker"
    );
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(rec.lag(), Duration::ZERO, "no waiting audio, no lag");
    // The same audio as recordings pushed at once: their waits are theirs,
    // not callers' late decisions, and so are their turns' costs.
    let callers_turns = rec.load().turn_cost;
    assert!(callers_turns.is_some());
    let recording = ListenOptions {
        recording: true,
        ..vocabulary_mode()
    };
    let mut sessions: Vec<_> = (0..8).map(|_| rec.start(&recording).unwrap()).collect();
    for frame in audio.chunks(320) {
        for s in &sessions {
            let _ = rec.push(s, frame);
        }
    }
    for s in &sessions {
        rec.finish(s);
    }
    for s in &mut sessions {
        s.wait_final().unwrap();
        assert_eq!(rec.lag(), Duration::ZERO, "a recording's wait counted");
    }
    assert_eq!(rec.load().turn_cost, callers_turns);
}

#[test]
fn audio_beyond_the_backlog_abandons_the_session_with_a_clear_outcome() {
    let rec = Recognizer::new(
        model(),
        RecognizerConfig {
            workers: 1,
            max_sessions: 2,
            max_backlog: Duration::from_millis(100),
            worker_nice: 0,
        },
    );
    let mut session = rec.start(&vocabulary_mode()).unwrap();
    let burst = vec![1000i16; 16000];
    assert!(matches!(
        rec.push(&session, &burst),
        Err(asr::AsrError::Overloaded)
    ));
    let t = session.wait_final().unwrap();
    assert_eq!(t.reason, TurnEnd::Overloaded);
}

#[test]
fn the_turn_ends_after_a_short_pause_once_the_expected_words_are_heard() {
    let rec = recognizer();
    for channel in [Channel::Wideband, Channel::Telephone] {
        ends_early(&rec, &speech(PASSPHRASE, "ko", 140, channel));
    }
}

fn ends_early(rec: &Recognizer, audio: &[i16]) {
    let waited = recognize(rec, &vocabulary_mode(), audio);
    let with = |words| ListenOptions {
        expected_words: Some(words),
        ..vocabulary_mode()
    };
    let early = recognize(rec, &with(2), audio);
    let more_expected = recognize(rec, &with(3), audio);
    for t in [&waited, &early, &more_expected] {
        assert_eq!(t.reason, TurnEnd::EndOfSpeech, "{t:?}");
        assert!(heard(t, PASSPHRASE), "{t:?}");
    }
    // 700 ms of silence ends a turn; 100 ms does once both words are heard.
    assert!(
        early.audio + Duration::from_millis(400) <= waited.audio,
        "early {:?}, waited {:?}",
        early.audio,
        waited.audio
    );
    assert_eq!(
        more_expected.audio, waited.audio,
        "a third word never came: the full pause"
    );
}

#[test]
fn speech_cut_off_by_the_end_of_the_turn_is_recognised_to_its_last_frame() {
    let rec = recognizer();
    let mut audio = speech(PASSPHRASE, "ko", 140, Channel::Telephone);
    // No silence after the last word: the final result has to include the
    // frames the session held back from Vosk, or the word is cut short.
    let last_sound = audio.iter().rposition(|s| s.unsigned_abs() > 300).unwrap();
    audio.truncate(last_sound + 1);
    let t = recognize(&rec, &vocabulary_mode(), &audio);
    assert_eq!(t.reason, TurnEnd::Finished, "{t:?}");
    assert_eq!(t.recognised, t.audio, "{t:?}");
    assert!(heard(&t, PASSPHRASE), "{t:?}");
}

#[test]
fn the_lexicon_is_read_from_the_models_language_model() {
    let lexicon = Lexicon::load(model().path()).unwrap();
    let words = lexicon.words();
    assert!(words.len() > 400_000, "{} words", words.len());
    assert!(words.windows(2).all(|w| w[0].cost <= w[1].cost));
    let rank = |word: &str| words.iter().position(|w| w.word == word);
    // A particle is commoner than a colour word; both are there.
    assert!(rank("의").unwrap() < rank("하얀").unwrap());
    assert!(rank("파란").is_some());
}

#[test]
fn the_filler_joins_the_alternatives_of_its_vocabulary_only() {
    let lexicon = Lexicon::load(model().path()).unwrap();
    let closed = Vocabulary::from_words(["하얀", "말"]);
    let decoys = DecoyConfig {
        common_words: 500,
        near_words: 5,
    };
    let grammar = with_decoys(&closed, &lexicon, &decoys);
    assert!(grammar.words().len() > 500, "{}", grammar.words().len());
    let options = ListenOptions {
        vocabulary: Some(closed.clone()),
        ..Default::default()
    };
    // A word inserted: the closed list can only force it onto its words.
    let audio = speech("하얀 예쁜 말", "ko", 175, Channel::Telephone);
    let rec = recognizer().with_filler(Filler::new(closed.clone(), grammar.clone(), 0.0));
    let t = recognize(&rec, &options, &audio);
    assert_eq!(
        t.alternatives.iter().filter(|a| a.filler).count(),
        1,
        "{t:?}"
    );
    assert!(t
        .alternatives
        .windows(2)
        .all(|w| w[0].confidence >= w[1].confidence));
    // The filler has the same words and more, so it explains the audio
    // about as well at least (scores move by a few units with how the
    // frames were batched, which depends on timing).
    let filler = t.alternatives.iter().find(|a| a.filler).unwrap();
    let closed_best = t.alternatives.iter().find(|a| !a.filler).unwrap();
    assert!(filler.confidence > closed_best.confidence - 5.0, "{t:?}");
    // Its penalty comes off its score: it sinks below every alternative of
    // the vocabulary (scores are a few hundred at most).
    let penalised = recognizer().with_filler(Filler::new(closed, grammar, 1000.0));
    let p = recognize(&penalised, &options, &audio);
    let last = p.alternatives.last().unwrap();
    assert!(last.filler, "{p:?}");
    assert!(last.confidence < -500.0, "{p:?}");
    assert!(p.alternatives[0].confidence > 0.0 && !p.alternatives[0].filler);
    // A session listening for other words gets no filler.
    let other = recognize(&rec, &vocabulary_mode(), &audio);
    assert!(other.alternatives.iter().all(|a| !a.filler), "{other:?}");
}

/// A burst of line noise before the caller begins, quiet (-45 to -37 dBFS:
/// above the floor the end-pointer starts from, too quiet for the
/// recognizer to hear a word in) and rising (so not steady enough to be
/// taken for the floor), then a second of quiet and the phrase: the
/// end-pointer takes the burst for speech, as it took the accuracy
/// benchmark's leading pink noise.
fn noise_burst_then(audio: &[i16]) -> Vec<i16> {
    let mut seed: u32 = 11;
    let mut noise = |amplitude: f32| {
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        (((seed >> 16) as f32 / 32768.0 - 1.0) * amplitude) as i16
    };
    let mut out = Vec::new();
    for frame in 0..14 {
        let amplitude = 500.0 * 1.1f32.powi(frame);
        out.extend((0..FRAME).map(|_| noise(amplitude)));
    }
    out.extend((0..50 * FRAME).map(|_| noise(30.0)));
    out.extend_from_slice(audio);
    out
}

#[test]
fn a_noise_burst_before_the_answer_does_not_end_the_turn() {
    let rec = recognizer();
    let audio = noise_burst_then(&speech(PASSPHRASE, "ko", 140, Channel::Telephone));
    let t = recognize(&rec, &vocabulary_mode(), &audio);
    assert_eq!(t.reason, TurnEnd::EndOfSpeech, "{t:?}");
    assert!(heard(&t, PASSPHRASE), "{t:?}");
    // Without the rule the burst ends the turn before the phrase.
    let cut = recognize(
        &rec,
        &ListenOptions {
            end_needs_words: false,
            ..vocabulary_mode()
        },
        &audio,
    );
    assert_eq!(cut.reason, TurnEnd::EndOfSpeech, "{cut:?}");
    assert!(!heard(&cut, PASSPHRASE), "{cut:?}");
    assert!(cut.audio < Duration::from_millis(1500), "{cut:?}");
}

/// A caller who waits 3 s after the beep: the silence is not decoded (only
/// `pre_roll` before the speech is), the phrase is heard as well, and its
/// words keep the turn's clock (3 s later than without the wait), where
/// the syllable nuclei are.
#[test]
fn silence_before_the_speech_is_not_decoded_and_the_words_keep_the_turns_clock() {
    let rec = recognizer();
    let spoken = speech(PASSPHRASE, "ko", 140, Channel::Telephone);
    let options = ListenOptions {
        pre_roll: Some(Duration::from_millis(500)),
        ..vocabulary_mode()
    };
    let soon = recognize(&rec, &options, &spoken);
    let mut late = vec![0i16; 3 * 16000];
    late.extend_from_slice(&spoken);
    let waited = recognize(&rec, &options, &late);
    assert!(
        heard(&soon, PASSPHRASE) && heard(&waited, PASSPHRASE),
        "{waited:?}"
    );
    // `soon` begins 300 ms before the speech, within its pre-roll: all of
    // it is decoded.
    assert_eq!(soon.recognised, soon.audio, "{soon:?}");
    assert!(
        waited.audio >= soon.audio + Duration::from_millis(2980),
        "{waited:?}"
    );
    assert!(
        waited.audio - waited.recognised >= Duration::from_millis(2700),
        "the wait was decoded: {waited:?}"
    );
    assert!(
        waited.recognised <= soon.recognised + Duration::from_millis(300),
        "{waited:?}"
    );
    let first = |t: &Transcript| {
        let best = t
            .alternatives
            .iter()
            .find(|a| a.text == PASSPHRASE)
            .unwrap();
        (best.words[0].start, best.words[best.words.len() - 1].end)
    };
    let (soon_start, soon_end) = first(&soon);
    let (late_start, late_end) = first(&waited);
    assert!(
        (late_start - soon_start - 3.0).abs() <= 0.1,
        "{soon:?}\n{waited:?}"
    );
    assert!(
        (late_end - soon_end - 3.0).abs() <= 0.1,
        "{soon:?}\n{waited:?}"
    );
    let shifted: Vec<f32> = soon.nuclei.iter().map(|t| t + 3.0).collect();
    assert_eq!(waited.nuclei.len(), shifted.len(), "{waited:?}");
    for (a, b) in waited.nuclei.iter().zip(&shifted) {
        assert!((a - b).abs() < 0.015, "{waited:?}");
    }
    // Without a pre-roll (the default), or with one longer than the
    // wait, all of it is decoded.
    assert_eq!(vocabulary_mode().pre_roll, None);
    for pre_roll in [None, Some(Duration::from_secs(10))] {
        let all = recognize(
            &rec,
            &ListenOptions {
                pre_roll,
                ..options.clone()
            },
            &late,
        );
        assert_eq!(all.recognised, all.audio, "{all:?}");
        assert!(heard(&all, PASSPHRASE), "{all:?}");
    }
}
