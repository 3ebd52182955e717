//! espeak-ng Korean speech at 16 kHz for the recognizer's benchmarks.

use std::process::Command;

/// `text` spoken by espeak-ng `voice` at `speed` words a minute, as 16 kHz
/// 16-bit mono samples. Exits with a message when espeak-ng or sox is
/// missing (scripts/ensure-deps.sh installs them).
pub fn speak_16k(text: &str, voice: &str, speed: u32) -> Vec<i16> {
    let dir = std::env::temp_dir().join(format!(
        "asr-bench-speech-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("{}: {e}", dir.display());
        std::process::exit(1);
    }
    let (raw, out) = (dir.join("raw.wav"), dir.join("out.wav"));
    let ok = Command::new("espeak-ng")
        .args(["-v", voice, "-s", &speed.to_string(), "-w"])
        .arg(&raw)
        .arg(text)
        .status()
        .is_ok_and(|s| s.success())
        && Command::new("sox")
            .arg(&raw)
            .args(["-r", "16000", "-c", "1", "-b", "16", "-e", "signed-integer"])
            .arg(&out)
            .status()
            .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("espeak-ng and sox are needed (scripts/ensure-deps.sh installs them)");
        std::process::exit(1);
    }
    let samples = match hound::WavReader::open(&out) {
        Ok(reader) => reader.into_samples::<i16>().map_while(Result::ok).collect(),
        Err(e) => {
            eprintln!("{}: {e}", out.display());
            std::process::exit(1);
        }
    };
    let _ = std::fs::remove_dir_all(&dir);
    samples
}
