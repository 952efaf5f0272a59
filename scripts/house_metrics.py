#!/usr/bin/env python3
"""Figures for the server crate's structure: how many files name the application state,
which files outside `store/` hold SQL, and the largest circle of module imports.

Usage: scripts/house_metrics.py [-v] [crates/server/src]
"""
import os
import re
import sys

ARGS = [a for a in sys.argv[1:] if not a.startswith("-")]
ROOT = ARGS[0] if ARGS else "crates/server/src"
SQL = re.compile(r'sqlx::query|query_as|query_scalar|"\s*(SELECT|INSERT|UPDATE|DELETE|WITH)\s', re.S)


def module_of(path):
    rel = os.path.relpath(path, ROOT)[:-3].split(os.sep)
    if rel[-1] in ("mod", "lib", "main"):
        rel = rel[:-1]
    return tuple(rel)


files = {}
for d, _, names in os.walk(ROOT):
    for n in names:
        if n.endswith(".rs"):
            p = os.path.join(d, n)
            files[module_of(p)] = p

state = sorted(p for p in files.values() if re.search(r"\bAppState\b", open(p).read()))
sql = sorted(os.path.relpath(p, ROOT) for m, p in files.items()
             if m[:1] != ("store",) and SQL.search(open(p).read()))

# Edges: every `crate::a::b::c` path resolves to the longest module prefix that is a file.
edges = {m: set() for m in files}
for m, p in files.items():
    text = open(p).read()
    for hit in re.finditer(r"crate((?:::\w+)+)", text):
        parts = tuple(hit.group(1).strip(":").split("::"))
        for k in range(len(parts), 0, -1):
            if parts[:k] in files:
                if parts[:k] != m:
                    edges[m].add(parts[:k])
                break
    # `use super::x` and `super::x` inside a module
    for hit in re.finditer(r"super((?:::\w+)+)", text):
        base = m[:-1] if not p.endswith("mod.rs") else m[:-1]
        parts = base + tuple(hit.group(1).strip(":").split("::"))
        for k in range(len(parts), 0, -1):
            if parts[:k] in files and parts[:k] != m:
                edges[m].add(parts[:k])
                break

# Tarjan's strongly connected components.
sys.setrecursionlimit(10000)
index, low, stack, on, comps, counter = {}, {}, [], set(), [], [0]


def visit(v):
    index[v] = low[v] = counter[0]
    counter[0] += 1
    stack.append(v)
    on.add(v)
    for w in edges[v]:
        if w not in index:
            visit(w)
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
        comps.append(comp)


for v in files:
    if v not in index:
        visit(v)
largest = max(comps, key=len)
print(f"files: {len(files)}")
print(f"files naming AppState: {len(state)}")
print(f"files outside store/ with SQL: {len(sql)}")
for s in sql:
    print(f"  {s}")
print(f"largest import circle: {len(largest)} files")
if "-v" in sys.argv:
    for m in sorted(largest):
        print("  " + "::".join(m))
