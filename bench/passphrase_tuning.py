#!/usr/bin/env python3
"""The passphrase decision's operating point ([passphrase] in the config).

Replays the decision over the alternatives `make bench-accuracy` recorded
for the TUNING set, for a grid of the rule's parameters, and prints the true
and false accepts of each. Record them with

  BENCH_ACCURACY_SETS=tuning BENCH_ACCURACY_DUMP=/tmp/tuning.jsonl \
      passgate-bench --out /tmp/tuning accuracy

then run `python3 bench/passphrase_tuning.py /tmp/tuning.jsonl [MORE.jsonl…]`
(several runs' dumps are pooled). With the turn's syllable nuclei in the
dump, it also prints how many the matched run spanned beyond its syllables,
by what was said, and sweeps count_syllables. The rule is
re-implemented here from crates/auth/src/passphrase/matching.rs to sweep it;
the words are compared in clear, which only a tuning run may do. DEV
judgements may be pooled in to check a choice; REPORTING and HOLDOUT
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


def run_at(words, want):
    n = min(len(want), len(words))
    for i in range(len(words) - n + 1):
        if words[i:i + n] == want:
            return i
    return None


def syllables(word):
    hangul = sum(1 for c in word if "\uac00" <= c <= "\ud7a3")
    if hangul:
        return hangul
    groups, in_vowel = 0, False
    for c in word:
        vowel = c in "aeiouy"
        if vowel and not in_vowel:
            groups += 1
        in_vowel = vowel
    return max(groups, 1)


def run_timing(words, spans, at, n):
    """(gap, slowest seconds per syllable, stretch) of the run, as
    RunTiming::of in matching.rs; None without timings."""
    if not spans or len(spans) != len(words):
        return None
    run, sp = words[at:at + n], spans[at:at + n]
    if any(w is None for w in run):
        return None
    gap = max([b[0] - a[1] for a, b in zip(sp, sp[1:])] + [0.0])
    per = [max(0.0, e - s) / syllables(w) for w, (s, e) in zip(run, sp)]
    slowest, fastest = max(per), min(per)
    return gap, slowest, (slowest / fastest if fastest > 0 else 1.0)


def counted_runs(alts, margin, extra_cost):
    """Each alternative, best first, that the rule counts (within `margin`
    at `extra_cost` a word) and that holds the phrase as a run: (score,
    words, spans, where the run starts). Stops at an alternative with the
    phrase's words and others inside them, which rejects."""
    if not alts:
        return
    best = alts[0][0]
    for a in alts:
        score, text = a[0], a[1]
        words = words_of(text)
        if words_inside(words, PASSPHRASE):
            return
        extra = max(0, len(words) - len(PASSPHRASE))
        if extra > MAX_EXTRA or (best - score) + extra * extra_cost > margin:
            continue
        at = run_at(words, PASSPHRASE)
        if at is not None:
            yield score, words, (a[2] if len(a) > 2 else []), at


def matched_timing(alts, margin=0.5, cost=0.6):
    """The timing of the run that the rule (without timing checks) matched."""
    for _, words, spans, at in counted_runs(alts, margin, cost):
        return run_timing(words, spans, at, len(PASSPHRASE))
    return None


def matched_span(alts, margin=0.5, cost=0.6, trailing=0.45):
    """The span (first word's start, last word's end) and syllables of the
    run the shipped rule without checks matched; None without one."""
    best = alts[0][0] if alts else 0.0
    for score, words, spans, at in counted_runs(alts, margin, min(cost, trailing)):
        if len(spans) != len(words):
            continue
        after = max(0, len(words) - at - len(PASSPHRASE))
        if (best - score) + at * cost + after * trailing > margin:
            continue
        run = words[at:at + len(PASSPHRASE)]
        return ((spans[at][0], spans[at + len(PASSPHRASE) - 1][1]),
                sum(syllables(w) for w in run))
    return None


def merge_repeats(text, spans, max_gap):
    """merge_repeats in matching.rs: each word that follows the same word
    within `max_gap` seconds dropped, its span joined to the first's;
    unknown words, and words without timings, are never merged."""
    words = text.split()
    if len(spans) != len(words):
        return text, spans
    out, out_spans = [], []
    for w, span in zip(words, spans):
        if (out and out[-1] == w and w not in ("[unk]", "<unk>")
                and span[0] - out_spans[-1][1] <= max_gap + 0.005):
            out_spans[-1] = (out_spans[-1][0], span[1])
            continue
        out.append(w)
        out_spans.append(span)
    return " ".join(out), out_spans


def nuclei_within(span, nuclei, slack):
    """RunTiming::nuclei_within: the nuclei within the run's span widened
    by `slack` seconds either side."""
    return sum(1 for t in nuclei if span[0] - slack <= t <= span[1] + slack)


def unheard(alt, nuclei, max_unheard, slack):
    """MatchRule::unheard: the alternative's known words have more syllables
    than `nuclei` within its span (`slack` wider), beyond `max_unheard`.
    Never without nuclei or without a span for every word."""
    spans = alt[2] if len(alt) > 2 else []
    words = words_of(alt[1])
    if not nuclei or not spans or len(spans) != len(words):
        return False
    written = sum(syllables(w) for w in words if w is not None)
    return written > nuclei_within((spans[0][0], spans[-1][1]), nuclei, slack) + max_unheard


def inserted_other(words, want):
    """The phrase's words in order with 1 to MAX_EXTRA other words inside
    them, each known and none a word of the phrase."""
    for idx in itertools.combinations(range(len(words)), len(want)):
        span = idx[-1] - idx[0] + 1
        if len(want) < span <= len(want) + MAX_EXTRA and [words[i] for i in idx] == want:
            inner = [words[i] for i in range(idx[0], idx[-1] + 1) if i not in idx]
            if all(w is not None and w not in want for w in inner):
                return True
    return False


def accepts(alts, margin, cost, lead, inside=True, timing=(0.0, 0.0, 0.0), merge=None,
            trailing=None, inside_lead=0.0, nuclei=(), syllable_check=None, set_aside=None,
            best_inside=False):
    """The shipped rule: margin, extra_word_cost (`cost`, words before the
    phrase), trailing_word_cost (`trailing`, words after it; None: `cost`),
    reject_words_inside, inside_lead (when above 0, every alternative with
    words inside the phrase must score at least that far below the match),
    min_lead (when above 0, the matching alternative must score at least
    `lead` above every alternative without the phrase), the timing checks
    (max_gap, max_syllable_time, max_stretch; 0 is off) on the run that
    matched, and merge_repeated_words with repeat_max_gap `merge` (None:
    off; when the alternatives as heard do not pass, decide again with a
    word repeated back to back counted once), and count_syllables with
    `syllable_check` (max_extra_syllables, syllable_slack; None: off) over
    the turn's `nuclei`, and set_aside_unheard with max_unheard_syllables
    `set_aside` (None: off; needs `syllable_check` for its slack): the
    alternatives with syllables the audio lacks are dropped from each
    reading, and with `best_inside` (best_with_word_inside_rejects) a
    reading whose best alternative is set aside and has another word
    inside the phrase (`inserted_other`) rejects. Each alternative is
    (score, text, spans)."""
    if trailing is None:
        trailing = cost
    check = (nuclei, syllable_check)

    def heard(reading):
        if set_aside is None or syllable_check is None:
            return reading
        return [a for a in reading if not unheard(a, nuclei, set_aside, syllable_check[1])]

    def decide(reading):
        if best_inside and set_aside is not None and syllable_check is not None and reading:
            top = max(reading, key=lambda a: a[0])
            if (unheard(top, nuclei, set_aside, syllable_check[1])
                    and inserted_other(words_of(top[1]), PASSPHRASE)):
                return False
        return accepts_reading(heard(reading), margin, (cost, trailing), lead, inside, timing,
                               inside_lead, check)

    if decide(alts):
        return True
    if merge is None:
        return False
    merged = [(a[0], *merge_repeats(a[1], a[2] if len(a) > 2 else [], merge)) for a in alts]
    return decide(merged)


def accepts_reading(alts, margin, costs, lead, inside, timing, inside_lead,
                    check=((), None)):
    """One reading of the alternatives; `costs` is (before, after)."""
    if not alts:
        return False
    best = alts[0][0]
    matched = None
    for a in alts:
        score, text = a[0], a[1]
        words = words_of(text)
        if inside and words_inside(words, PASSPHRASE):
            return False
        extra = max(0, len(words) - len(PASSPHRASE))
        if extra > MAX_EXTRA or (best - score) + extra * min(costs) > margin:
            continue
        at = run_at(words, PASSPHRASE)
        if at is not None:
            after = max(0, len(words) - at - len(PASSPHRASE))
            if (best - score) + at * costs[0] + after * costs[1] > margin:
                continue
            t = run_timing(words, a[2] if len(a) > 2 else [], at, len(PASSPHRASE))
            if t is not None and any(lim > 0 and v > lim for v, lim in zip(t, timing)):
                return False
            nuclei, syllable_check = check
            if t is not None and syllable_check is not None and nuclei:
                max_extra, slack = syllable_check
                run, spans = words[at:at + len(PASSPHRASE)], a[2][at:at + len(PASSPHRASE)]
                heard = nuclei_within((spans[0][0], spans[-1][1]), nuclei, slack)
                if heard > sum(syllables(w) for w in run) + max_extra:
                    return False
            matched = score
            break
    if matched is None:
        return False
    if inside_lead > 0 and any(words_inside(words_of(a[1]), PASSPHRASE)
                               and matched - a[0] < inside_lead for a in alts):
        return False
    if lead <= 0:
        return True
    rivals = [a[0] for a in alts if not has_run(words_of(a[1]), PASSPHRASE)]
    return not rivals or matched - max(rivals) >= lead


def main():
    rows = [json.loads(l) for path in sys.argv[1:]
            for l in open(path, encoding="utf-8") if l.strip()]
    if any(r["set"] in ("REPORTING", "HOLDOUT") for r in rows):
        sys.exit("the dump has REPORTING or HOLDOUT judgements: tune on TUNING (and check on DEV)"
                 " only")
    def alts(r, penalty):
        # The filler's hypothesis (recorded with penalty 0) at its score
        # less `penalty`, as the recognizer merges it.
        out = [(float(a[0]) - (penalty if len(a) > 2 and a[2] else 0.0), a[1],
                [(t[1], t[2]) for t in a[3]] if len(a) > 3 else [])
               for a in r["alternatives"]]
        return sorted(out, key=lambda a: -a[0])
    has_filler = any(len(a) > 2 and a[2] for r in rows for a in r["alternatives"])
    penalties = [0.0, 1.0, 2.0, 3.0, 5.0, 8.0, 1000.0] if has_filler else [0.0]
    true = [r for r in rows if not r["impostor"]]
    imp = [r for r in rows if r["impostor"]]
    print(f"{len(true)} true, {len(imp)} impostor judgements")
    grid = itertools.product(penalties, [0.25, 0.5, 1.0, 2.0], [0.3, 0.6, 1.0],
                             [None, 0.0, 0.45], [0.0, 0.5, 0.6, 0.75, 1.0],
                             [0.0, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0], [None, 0.0])
    for penalty, margin, cost, trailing, lead, inside_lead, merge in grid:
        merging = "off" if merge is None else f"{merge:4}"
        after = "same" if trailing is None else f"{trailing:4}"
        line = (f"penalty {penalty:6} margin {margin:5} extra_word_cost {cost:4}"
                f" trailing_word_cost {after} min_lead {lead:4} inside_lead {inside_lead:4}"
                f" repeat_max_gap {merging}:")
        for loss in (0.0, 5.0, 10.0):
            t = [r for r in true if r["loss"] == loss]
            i = [r for r in imp if r["loss"] == loss]
            ta = sum(accepts(alts(r, penalty), margin, cost, lead, merge=merge, trailing=trailing,
                             inside_lead=inside_lead) for r in t)
            fa = sum(accepts(alts(r, penalty), margin, cost, lead, merge=merge, trailing=trailing,
                             inside_lead=inside_lead) for r in i)
            line += f"  loss {loss:4}: TA {ta}/{len(t)} FA {fa}/{len(i)}"
        print(line)
    timed = any(len(a) > 3 and a[3] for r in rows for a in r["alternatives"])
    if timed:
        # The timing checks on the run that matched (max_gap,
        # max_syllable_time, max_stretch; 0 is off) at the shipped margin,
        # cost and lead.
        print("\ntiming checks at margin 0.5, extra_word_cost 0.6, trailing_word_cost 0.45,"
              " min_lead 0.6, inside_lead 1.5:")
        grid = itertools.product([0.0, 0.03, 0.1, 0.2, 0.3], [0.0, 0.3, 0.35, 0.4, 0.45, 0.5],
                                 [0.0, 1.5, 2.0, 2.5, 3.0])
        for timing in grid:
            line = "max_gap {:4} max_syllable_time {:4} max_stretch {:3}:".format(*timing)
            for loss in (0.0, 5.0, 10.0):
                t = [r for r in true if r["loss"] == loss]
                i = [r for r in imp if r["loss"] == loss]
                ta = sum(accepts(alts(r, 0.0), 0.5, 0.6, 0.6, timing=timing, trailing=0.45,
                                 inside_lead=1.5) for r in t)
                fa = sum(accepts(alts(r, 0.0), 0.5, 0.6, 0.6, timing=timing, trailing=0.45,
                                 inside_lead=1.5) for r in i)
                line += f"  loss {loss:4}: TA {ta}/{len(t)} FA {fa}/{len(i)}"
            print(line)
        print("\nthe matched run's timing (gap, slowest s/syllable, stretch) by what was said:")
        spread = {}
        for r in rows:
            t = matched_timing(alts(r, 0.0))
            if t is not None:
                spread.setdefault((r["impostor"], r["said"]), []).append(t)
        for (impostor, said), ts in sorted(spread.items()):
            print(f"  {'impostor' if impostor else 'true'} {said}: {len(ts)} matched, gap "
                  f"{min(t[0] for t in ts):.2f}-{max(t[0] for t in ts):.2f}, s/syllable "
                  f"{min(t[1] for t in ts):.2f}-{max(t[1] for t in ts):.2f}, stretch "
                  f"{min(t[2] for t in ts):.2f}-{max(t[2] for t in ts):.2f}")
    if any(r.get("nuclei") for r in rows):
        syllable_section(rows, true, imp, alts)
    print("\nwrong decisions under the configured rule:")
    for r in rows:
        wrong = (r["decision"] == "accepted") == r["impostor"]
        if wrong:
            shown = " | ".join(f"{a[1]} {float(a[0]):.2f}" for a in r["alternatives"])
            print(f"  {r['voice']:6} {r['speed']} {r['loss']:4} {r['said']:10} -> {r['decision']:8} {shown}")


def kind(r):
    """The kind of what was said, for the nuclei's spread."""
    if not r["impostor"]:
        return "true phrase"
    extra = len(r["said"].split()) - len(PASSPHRASE)
    inserted = r["said"].split()[0] == PASSPHRASE[0] and r["said"].split()[-1] == PASSPHRASE[-1]
    if extra == 1 and inserted:
        word = r["said"].split()[1]
        return f"{syllables(word)}-syllable word inserted"
    return "other near miss"


def syllable_section(rows, true, imp, alts):
    """count_syllables: the nuclei within the matched run beyond its
    syllables, by what was said and loss, and the check swept."""
    print("\nnuclei within the matched run (shipped rule without checks, slack 0.1 s)"
          " minus its syllables: {extra: judgements}, all matched / accepted without the check:")
    for slack in (0.1,):
        spread, accepted = {}, {}
        for r in rows:
            found = matched_span(alts(r, 0.0))
            if found is None:
                continue
            span, syl = found
            extra = nuclei_within(span, r.get("nuclei", []), slack) - syl
            key = (kind(r), r["loss"])
            spread.setdefault(key, {}).setdefault(extra, 0)
            spread[key][extra] += 1
            if accepts(alts(r, 0.0), 0.5, 0.6, 0.6, trailing=0.45, inside_lead=1.5):
                accepted.setdefault(key, {}).setdefault(extra, 0)
                accepted[key][extra] += 1
        for key in sorted(spread):
            print(f"  {key[0]:28} loss {key[1]:4}: {dict(sorted(spread[key].items()))}"
                  f" / {dict(sorted(accepted.get(key, {}).items()))}")
    print("\ncount_syllables at margin 0.5, extra_word_cost 0.6, trailing_word_cost 0.45,"
          " min_lead 0.6, inside_lead 1.5:")
    for check, merge, set_aside in itertools.product(
            [None] + [(m, s) for m in (0, 1) for s in (0.0, 0.05, 0.1, 0.15, 0.2)], [None, 0.0],
            [None, 0, 1]):
        if check is None and set_aside is not None:
            continue
        label = "off" if check is None else f"max_extra_syllables {check[0]} slack {check[1]:4}"
        aside = "off" if set_aside is None else set_aside
        line = (f"{label:36} repeats merged {'off' if merge is None else merge:4}"
                f" unheard set aside {aside:3}:")
        for loss in (0.0, 5.0, 10.0):
            t = [r for r in true if r["loss"] == loss]
            i = [r for r in imp if r["loss"] == loss]
            decide = lambda r: accepts(alts(r, 0.0), 0.5, 0.6, 0.6, trailing=0.45, inside_lead=1.5,
                                       merge=merge, nuclei=r.get("nuclei", []),
                                       syllable_check=check, set_aside=set_aside)
            ta, fa = sum(map(decide, t)), sum(map(decide, i))
            line += f"  loss {loss:4}: TA {ta}/{len(t)} FA {fa}/{len(i)}"
        print(line)
    print("\nbest_with_word_inside_rejects at the shipped point (max_extra_syllables 0 slack 0.1,"
          " repeats merged 0.0, unheard set aside 0):")
    shipped = lambda r, best: accepts(alts(r, 0.0), 0.5, 0.6, 0.6, trailing=0.45, inside_lead=1.5,
                                      merge=0.0, nuclei=r.get("nuclei", []),
                                      syllable_check=(0, 0.1), set_aside=0, best_inside=best)
    for best in (False, True):
        line = f"{'on' if best else 'off':4}:"
        for loss in (0.0, 5.0, 10.0):
            t = [r for r in true if r["loss"] == loss]
            i = [r for r in imp if r["loss"] == loss]
            ta = sum(shipped(r, best) for r in t)
            fa = sum(shipped(r, best) for r in i)
            line += f"  loss {loss:4}: TA {ta}/{len(t)} FA {fa}/{len(i)}"
        print(line)
    differ = [r for r in rows if shipped(r, True) != (r["decision"] == "accepted")]
    print(f"judgements the replay of the shipped rule decides otherwise than the recorded"
          f" decision: {len(differ)} of {len(rows)}")


if __name__ == "__main__":
    main()
