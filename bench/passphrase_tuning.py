#!/usr/bin/env python3
"""The passphrase decision's operating point ([passphrase] in the config).

Speech from espeak-ng Korean voices, through 8 kHz mu-law as in a call, goes
through `passgate recognize --passphrase` (the call's listening and decision
path, the shipped vocabulary mode). Two separate sets:

  tune    voices ko, ko+f2, ko+m3 at 130 and 170 words/min. Prints the
          alternatives' scores and, for a grid of margin / extra_word_cost,
          the true and false accepts of the rule (re-implemented here from
          crates/auth/src/passphrase/matching.rs to sweep it; the words are
          compared in clear, which only a tuning run may do).
  report  voices ko+f4, ko+m1, ko+m7 at 145 and 190 words/min, never used to
          choose. Counts the decisions the binary itself prints under the
          configured rule.

Run from the repository root after `cargo build`:
  python3 bench/passphrase_tuning.py tune|report [path/to/passgate]
"""
import itertools, os, re, subprocess, sys, tempfile

PASSPHRASE = "하얀 말"
IMPOSTORS = ["하얀 예쁜 말", "빨간 말", "파란 말", "하얀 작은 말", "검은 말", "하얀 소", "말 하얀"]
SETS = {
    "tune": (["ko", "ko+f2", "ko+m3"], [130, 170]),
    "report": (["ko+f4", "ko+m1", "ko+m7"], [145, 190]),
}
LINE = re.compile(r"^\s*\d+\.\s+(-?[\d.]+)\s+(.*?)\s+\[")


def speak(text, voice, speed, path, tmp):
    raw, law = os.path.join(tmp, "raw.wav"), os.path.join(tmp, "law.wav")
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", raw, text], check=True)
    subprocess.run(["sox", raw, "-r", "8000", "-c", "1", "-e", "u-law", law], check=True)
    subprocess.run(["sox", law, "-e", "signed", "-b", "16", path, "pad", "0.5", "1"], check=True)


def recognize(binary, wav):
    out = subprocess.run([binary, "recognize", "--passphrase", PASSPHRASE, wav],
                         capture_output=True, text=True, check=True).stdout
    alts = [(float(m.group(1)), m.group(2)) for m in map(LINE.match, out.splitlines()) if m]
    decision = next(l for l in out.splitlines() if l.startswith("decision:"))
    return alts, decision.split()[1]


def words_inside(words, want, max_extra=2):
    """The phrase's words in order with other words inside them (reject_words_inside)."""
    for idx in itertools.combinations(range(len(words)), len(want)):
        span = idx[-1] - idx[0] + 1
        if len(want) < span <= len(want) + max_extra and [words[i] for i in idx] == want:
            return True
    return False


def accepts(alts, margin, cost, max_extra=2):
    want = PASSPHRASE.split()
    if not alts:
        return False
    best = alts[0][0]
    for score, text in alts:
        words = text.split()
        if words_inside(words, want, max_extra):
            return False
        extra = max(0, len(words) - len(want))
        if extra > max_extra or (best - score) + extra * cost > margin:
            continue
        for i in range(len(words) - len(want) + 1):
            if words[i:i + len(want)] == want:
                return True
    return False


def main():
    which = sys.argv[1] if len(sys.argv) > 1 else "tune"
    binary = sys.argv[2] if len(sys.argv) > 2 else "target/release/passgate"
    voices, speeds = SETS[which]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for voice, speed, phrase in itertools.product(voices, speeds, [PASSPHRASE] + IMPOSTORS):
            wav = os.path.join(tmp, "said.wav")
            speak(phrase, voice, speed, wav, tmp)
            alts, decision = recognize(binary, wav)
            results.append((phrase == PASSPHRASE, f"{voice}/{speed} {phrase}", alts, decision))
            shown = " | ".join(f"{t} {s:.2f}" for s, t in alts)
            print(f"{voice:6} {speed} {phrase:8} -> {decision:9} {shown}")
    true = [r for r in results if r[0]]
    imp = [r for r in results if not r[0]]
    if which == "tune":
        for margin, cost in itertools.product([0, 0.25, 0.5, 1, 2, 1000], [0, 0.25, 0.5, 1000]):
            ta = sum(accepts(r[2], margin, cost) for r in true)
            fa = [r[1] for r in imp if accepts(r[2], margin, cost)]
            print(f"margin {margin:>6} extra_word_cost {cost:>6}: true accept {ta}/{len(true)}, "
                  f"false accept {len(fa)}/{len(imp)} {fa}")
    ta = sum(r[3] == "accepted" for r in true)
    fa = [r[1] for r in imp if r[3] == "accepted"]
    print(f"{which} set, configured rule: true accept {ta}/{len(true)}, "
          f"false accept {len(fa)}/{len(imp)} {fa}")


if __name__ == "__main__":
    main()
