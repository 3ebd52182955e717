#!/usr/bin/env python3
"""The passphrase decision's operating point ([passphrase] in the config).

Replays the decision over the alternatives `make bench-accuracy` recorded
for the TUNING set, for a grid of the rule's parameters, and prints the true
and false accepts of each. Record them with

  BENCH_ACCURACY_SETS=tuning BENCH_ACCURACY_DUMP=/tmp/tuning.jsonl \
      passgate-bench --out /tmp/tuning accuracy

then run `python3 bench/passphrase_tuning.py /tmp/tuning.jsonl`. The rule is
re-implemented here from crates/auth/src/passphrase/matching.rs to sweep it;
the words are compared in clear, which only a tuning run may do. REPORTING
judgements in the dump are refused: they are never used to choose.
"""
import itertools, json, sys

PASSPHRASE = "하얀 말".split()
MAX_EXTRA = 2


def words_of(text):
    # heard_words: [unk] and <unk> are unknown words.
    return [None if w in ("[unk]", "<unk>") else w for w in text.split()]


def words_inside(words, want):
    for idx in itertools.combinations(range(len(words)), len(want)):
        span = idx[-1] - idx[0] + 1
        if len(want) < span <= len(want) + MAX_EXTRA and [words[i] for i in idx] == want:
            return True
    return False


def has_run(words, want):
    n = min(len(want), len(words))
    return any(words[i:i + n] == want for i in range(len(words) - n + 1))


def accepts(alts, margin, cost, lead, inside=True):
    """The shipped rule: margin, extra_word_cost, reject_words_inside, and
    min_lead (when above 0, the matching alternative must score at least
    `lead` above every alternative without the phrase)."""
    if not alts:
        return False
    best = alts[0][0]
    matched = None
    for score, text in alts:
        words = words_of(text)
        if inside and words_inside(words, PASSPHRASE):
            return False
        extra = max(0, len(words) - len(PASSPHRASE))
        if extra > MAX_EXTRA or (best - score) + extra * cost > margin:
            continue
        if has_run(words, PASSPHRASE):
            matched = score
            break
    if matched is None:
        return False
    if lead <= 0:
        return True
    rivals = [s for s, t in alts if not has_run(words_of(t), PASSPHRASE)]
    return not rivals or matched - max(rivals) >= lead


def main():
    rows = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8") if l.strip()]
    if any(r["set"] != "TUNING" for r in rows):
        sys.exit("the dump has REPORTING judgements: tune on TUNING only")
    def alts(r, penalty):
        # The filler's hypothesis (recorded with penalty 0) at its score
        # less `penalty`, as the recognizer merges it.
        out = [(float(a[0]) - (penalty if len(a) > 2 and a[2] else 0.0), a[1])
               for a in r["alternatives"]]
        return sorted(out, key=lambda a: -a[0])
    has_filler = any(len(a) > 2 and a[2] for r in rows for a in r["alternatives"])
    penalties = [0.0, 1.0, 2.0, 3.0, 5.0, 8.0, 1000.0] if has_filler else [0.0]
    true = [r for r in rows if not r["impostor"]]
    imp = [r for r in rows if r["impostor"]]
    print(f"{len(true)} true, {len(imp)} impostor judgements")
    grid = itertools.product(penalties, [0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0], [0.0, 0.3, 0.6, 1.0],
                             [0.0, 0.25, 0.5, 0.6, 0.75, 1.0, 1.5, 2.0])
    for penalty, margin, cost, lead in grid:
        line = f"penalty {penalty:6} margin {margin:5} extra_word_cost {cost:4} min_lead {lead:4}:"
        for loss in (0.0, 5.0, 10.0):
            t = [r for r in true if r["loss"] == loss]
            i = [r for r in imp if r["loss"] == loss]
            ta = sum(accepts(alts(r, penalty), margin, cost, lead) for r in t)
            fa = sum(accepts(alts(r, penalty), margin, cost, lead) for r in i)
            line += f"  loss {loss:4}: TA {ta}/{len(t)} FA {fa}/{len(i)}"
        print(line)
    print("\nwrong decisions under the configured rule:")
    for r in rows:
        wrong = (r["decision"] == "accepted") == r["impostor"]
        if wrong:
            shown = " | ".join(f"{a[1]} {float(a[0]):.2f}" for a in r["alternatives"])
            print(f"  {r['voice']:6} {r['speed']} {r['loss']:4} {r['said']:10} -> {r['decision']:8} {shown}")


if __name__ == "__main__":
    main()
