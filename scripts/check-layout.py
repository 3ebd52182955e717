#!/usr/bin/env python3
"""The code's shape, checked: no import circle between the modules of a crate,
no source file longer than MAX_LINES, and no `too_many_arguments` allowance
(a function that needs that many inputs takes a struct naming them).

A module "uses" another when its file names it through `crate::`, `super::` or
`self::` paths (in `use` trees or inline). Two modules are compared at the
level where their paths part: `flow::action` using `flow::audit::Row` is an
arrow action -> audit under `flow`; a child naming its parent's items, or a
parent its children's, is nesting, not an arrow. A circle among the arrows
of one level is an error, listed with the files that make it.

Usage: scripts/check-layout.py [ROOT]   (exit status 1 on any finding)
"""

import os
import re
import sys

MAX_LINES = 800

ROOT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                       os.path.join(os.path.dirname(__file__), ".."))
CRATE_DIRS = ["crates", "bench"]

COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
STRING = re.compile(r'r#*"(?:.|\n)*?"#*|"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])\'')
MOD_DECL = re.compile(r"(?:#\[path\s*=\s*\"([^\"]+)\"\]\s*)?(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*([;{])")
USE_STMT = re.compile(r"\buse\s+((?:crate|super|self)\b[^;]*);")
INLINE_PATH = re.compile(r"\b((?:crate|super|self)(?:::\w+)+)")


def strip(text):
    return STRING.sub('""', COMMENT.sub("", text))


def expand_use(tree):
    """`crate::{a::X, b::{c, d}}` -> ["crate::a::X", "crate::b::c", "crate::b::d"]."""
    tree = re.sub(r"\s+", "", tree)
    tree = re.sub(r"\bas\w+", "", tree)
    out = []

    def walk(prefix, rest):
        depth = 0
        start = 0
        parts = []
        for i, ch in enumerate(rest):
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            elif ch == "," and depth == 0:
                parts.append(rest[start:i])
                start = i + 1
        parts.append(rest[start:])
        for part in parts:
            if not part:
                continue
            brace = part.find("{")
            if brace >= 0 and part.endswith("}"):
                head = part[:brace].rstrip(":")
                walk(prefix + ([head] if head else []), part[brace + 1:-1])
            else:
                out.append("::".join(prefix + [part]))

    walk([], tree)
    return out


class Crate:
    def __init__(self, name, src):
        self.name = name
        self.src = src
        self.files = {}  # module path (tuple) -> file
        self.inline = {}  # module path -> (file, text) for inline modules

    def load(self, path, module):
        self.files[module] = path
        with open(path, encoding="utf-8") as f:
            text = strip(f.read())
        self.scan_modules(path, module, text)

    def scan_modules(self, path, module, text):
        base = os.path.dirname(path)
        stem = os.path.splitext(os.path.basename(path))[0]
        own_dir = base if stem in ("lib", "main", "mod") or module == () else os.path.join(base, stem)
        for m in MOD_DECL.finditer(text):
            explicit, name, kind = m.group(1), m.group(2), m.group(3)
            child = module + (name,)
            if kind == ";":
                candidates = [os.path.join(base, explicit)] if explicit else [
                    os.path.join(own_dir, name + ".rs"),
                    os.path.join(own_dir, name, "mod.rs"),
                ]
                for c in candidates:
                    if os.path.exists(c):
                        self.load(c, child)
                        break
            else:
                # Inline module: its body is scanned as part of the parent's
                # file; its uses count for the parent (tests modules mostly).
                pass


def resolve(crate, module, path):
    parts = path.split("::")
    head, rest = parts[0], parts[1:]
    if head == "crate":
        base = ()
    elif head == "self":
        base = module
    else:  # super (possibly repeated)
        base = module
        while parts and parts[0] == "super":
            base = base[:-1]
            parts = parts[1:]
        rest = parts
    target = base
    for p in rest:
        if target + (p,) in crate.files:
            target = target + (p,)
        else:
            break
    return target


def arrows(crate):
    edges = {}  # (level, from, to) -> set(files)
    for module, path in crate.files.items():
        with open(path, encoding="utf-8") as f:
            text = strip(f.read())
        used = set()
        for m in USE_STMT.finditer(text):
            for p in expand_use(m.group(1)):
                used.add(p)
        for m in INLINE_PATH.finditer(text):
            used.add(m.group(1))
        for p in used:
            target = resolve(crate, module, p)
            common = 0
            while common < min(len(module), len(target)) and module[common] == target[common]:
                common += 1
            if common == len(module) or common == len(target):
                continue  # nesting: a module and its ancestor or descendant
            level = module[:common]
            key = (level, module[common], target[common])
            edges.setdefault(key, set()).add(os.path.relpath(path, ROOT))
    return edges


def circles(edges):
    by_level = {}
    for (level, a, b), files in edges.items():
        by_level.setdefault(level, {}).setdefault(a, set()).add(b)
    found = []
    for level, graph in by_level.items():
        index, low, stack, on, counter = {}, {}, [], set(), [0]

        def strong(v):
            index[v] = low[v] = counter[0]
            counter[0] += 1
            stack.append(v)
            on.add(v)
            for w in graph.get(v, ()):
                if w not in index:
                    strong(w)
                    low[v] = min(low[v], low[w])
                elif w in on:
                    low[v] = min(low[v], index[w])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    found.append((level, sorted(comp)))

        for v in list(graph):
            if v not in index:
                strong(v)
    return found


def main():
    problems = []
    for top in CRATE_DIRS:
        top_dir = os.path.join(ROOT, top)
        candidates = [top_dir] if os.path.exists(os.path.join(top_dir, "Cargo.toml")) else [
            os.path.join(top_dir, d) for d in sorted(os.listdir(top_dir))]
        for crate_dir in candidates:
            src = os.path.join(crate_dir, "src")
            if not os.path.isdir(src):
                continue
            for root_file in ("lib.rs", "main.rs"):
                root = os.path.join(src, root_file)
                if not os.path.exists(root):
                    continue
                crate = Crate(os.path.basename(crate_dir) + "/" + root_file, src)
                crate.load(root, ())
                edges = arrows(crate)
                for level, comp in circles(edges):
                    where = "::".join(level) or "crate root"
                    files = sorted(set().union(*[
                        f for (lv, a, b), f in edges.items()
                        if lv == level and a in comp and b in comp]))
                    problems.append(f"import circle in {crate.name} under {where}: "
                                    f"{' <-> '.join(comp)} (in {', '.join(files)})")
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = [d for d in dirnames if d not in ("target", ".git", "node_modules", "fuzz")
                       and not d.startswith("target")]
        for name in filenames:
            if name.endswith(".rs"):
                path = os.path.join(dirpath, name)
                with open(path, encoding="utf-8") as f:
                    lines = sum(1 for _ in f)
                if lines > MAX_LINES:
                    problems.append(f"{os.path.relpath(path, ROOT)} has {lines} lines "
                                    f"(at most {MAX_LINES}: split it by job)")
                with open(path, encoding="utf-8") as f:
                    for number, line in enumerate(f, 1):
                        if "too_many_arguments" in line and line.lstrip().startswith("#"):
                            problems.append(f"{os.path.relpath(path, ROOT)}:{number}: a "
                                            "too_many_arguments allowance (take a struct)")
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
