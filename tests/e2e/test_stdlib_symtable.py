"""Differential test of floe's static analyser against CPython's `symtable`
on every module of the standard library (/usr/lib/python3.11, recursively).

Each .py file that compiles with this Python is analysed by `floe deps` as
a notebook of two cells: the module itself, then a cell that loads every
name the module binds (so that floe reports what the module's functions and
classes read when they are used — floe counts a def's free globals as reads
only where the def is used). Files that do not compile (Python 2 test data,
deliberately broken files) are skipped and counted.

The oracle, per module:

* writes — the module-scope symbols symtable marks assigned or imported
  (assignment, augmented assignment, for/with/except-as targets, walrus,
  import, def, class, match captures, `del`), minus names whose only
  module-level binding is a bare annotation `x: T` (symtable marks those
  assigned; at run time they bind nothing). Compared with floe's
  `writes | deletes` of the first cell.

* reads — the names the module depends on from outside: every name
  referenced at module scope, or referenced in any nested scope (function,
  class, lambda, comprehension, at any depth) where symtable resolves it
  as global, that is *not* in the module's write set and is not a builtin.
  symtable cannot tell read-before-write apart from write-then-read, so
  names the module binds itself are left out on both sides; the
  read-before-write rules are covered by tests/analysis/cases.txt instead.
  Compared with (floe reads of cell 0 | floe reads of cell 1) minus the
  oracle's write set. Builtins: Python's `builtins` module plus `__file__`,
  `__builtins__` and IPython's `display`/`get_ipython`, which floe treats
  as predefined (`floe deps` never reports them).

Where floe and symtable legitimately differ, the oracle is adjusted, not
floe (each adjustment is explained where it is made): the writes of a
module function that the module uses at module level count as module
writes (global_writes/called_writes), implicit `__class__` references are
left out, and nested scopes are read by scope constant (3.11's
Symbol.is_global() is wrong inside functions named `top`).

A file agrees when both sets are equal. The test prints the agreement rate
and every disagreeing file with the differing names (-missing from floe,
+extra in floe) and requires >= 99.5 % agreement.
"""
import ast
import builtins
import concurrent.futures
import json
import os
import subprocess
import symtable
import tempfile

FLOE = os.environ.get("FLOE", os.path.join(os.path.dirname(__file__), "..", "..", "build", "floe"))
STDLIB = os.environ.get("FLOE_STDLIB", "/usr/lib/python3.11")
TARGET = 0.995
BUILTINS = set(dir(builtins)) | {"__file__", "__builtins__", "display", "get_ipython"}


def stdlib_files():
    for root, dirs, files in os.walk(STDLIB):
        dirs.sort()
        if "site-packages" in root or "dist-packages" in root:
            continue
        for f in sorted(files):
            if f.endswith(".py"):
                yield os.path.join(root, f)


def bare_annotations(tree):
    """Names of simple `x: T` statements (no value) at module level,
    including inside module-level if/try/with/for/while/match blocks."""
    out = set()
    stack = list(tree.body)
    while stack:
        n = stack.pop()
        if isinstance(n, ast.AnnAssign) and n.value is None and isinstance(n.target, ast.Name):
            out.add(n.target.id)
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            stack.extend(getattr(n, field, []) or [])
    return out


def other_bindings(tree, names):
    """Which of `names` some module-level construct other than a bare
    annotation binds (checked with symtable's help on a copy without the
    bare annotations)."""
    class Strip(ast.NodeTransformer):
        def visit_AnnAssign(self, n):
            if n.value is None and isinstance(n.target, ast.Name):
                return ast.Pass()
            return n
    stripped = ast.fix_missing_locations(Strip().visit(tree))
    st = symtable.symtable(ast.unparse(stripped), "<stripped>", "exec")
    bound = {s.get_name() for s in st.get_symbols() if s.is_assigned() or s.is_imported()}
    return names & bound


def is_global(sym):
    """Whether a symbol of a nested scope resolves as global. Read from the
    symbol's scope, not Symbol.is_global(): in 3.11 that also answers True
    for every bound name of any function that happens to be named `top`
    (symtable.py takes a table named "top" for the module)."""
    return sym._Symbol__scope in (symtable.GLOBAL_IMPLICIT, symtable.GLOBAL_EXPLICIT)


def global_refs(table, out):
    """Names referenced in nested scopes of table that resolve as global.
    `__class__` is left out: the compiler adds it to any function that
    mentions `super` (even a parameter named super), but it is loaded only
    by a zero-argument super() call, which is never at module level."""
    for child in table.get_children():
        for s in child.get_symbols():
            if s.is_referenced() and is_global(s) and s.get_name() != "__class__":
                out.add(s.get_name())
        global_refs(child, out)


def global_writes(table, out):
    """Names a function (and what is nested in it) assigns after `global`."""
    for s in table.get_symbols():
        if s.is_declared_global() and (s.is_assigned() or s.is_imported()):
            out.add(s.get_name())
    for child in table.get_children():
        global_writes(child, out)


def called_writes(top):
    """Global writes of the module's functions that the module uses at
    module level, transitively (a function using another module function
    runs its writes too). floe counts those as writes of the cell that
    uses the function: the cell does bind them when it runs; symtable
    alone cannot see that."""
    funcs = {}
    for child in top.get_children():
        if child.get_type() == "function":
            w, r = set(), set()
            global_writes(child, w)
            global_refs(child, r)
            funcs.setdefault(child.get_name(), [set(), set()])
            funcs[child.get_name()][0] |= w
            funcs[child.get_name()][1] |= r
    used = {s.get_name() for s in top.get_symbols() if s.is_referenced()} & set(funcs)
    todo, seen, out = list(used), set(used), set()
    while todo:
        w, r = funcs[todo.pop()]
        out |= w
        for n in r & set(funcs) - seen:
            seen.add(n)
            todo.append(n)
    return out


def oracle(src, path):
    top = symtable.symtable(src, path, "exec")
    writes = {s.get_name() for s in top.get_symbols() if s.is_assigned() or s.is_imported()}
    bare = bare_annotations(ast.parse(src, path)) & writes
    if bare:
        writes -= bare - other_bindings(ast.parse(src, path), bare)
    writes |= called_writes(top)
    refs = {s.get_name() for s in top.get_symbols() if s.is_referenced()}
    global_refs(top, refs)
    return writes, refs - writes - BUILTINS


def floe_sets(path, src, writes):
    loads = "\n".join(sorted(writes))
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False, encoding="utf-8") as f:
        f.write(src.rstrip("\n") + "\n\n# %%\n" + loads + "\n")
    try:
        r = subprocess.run([FLOE, "deps", f.name, "--format", "json"], capture_output=True, text=True, timeout=60)
    finally:
        os.unlink(f.name)
    if r.returncode != 0:
        return None, None, r.stderr.strip()
    cells = json.loads(r.stdout)["cells"]
    c0 = cells[0]
    fw = set(c0["writes"]) | set(c0["deletes"])
    fr = set(c0["reads"])
    for c in cells[1:]:
        fr |= set(c["reads"])
    return fw, fr - writes - BUILTINS, ""


def check_file(path):
    """Returns (status, detail): status 'skip', 'ok' or 'diff'."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
        src = raw.decode("utf-8")
        compile(src, path, "exec", dont_inherit=True)
    except (SyntaxError, ValueError, UnicodeDecodeError):
        return "skip", ""
    if any(line.startswith(("# %%", "#%%")) for line in src.splitlines()):
        return "skip", "has cell markers"
    ow, orr = oracle(src, path)
    fw, fr, err = floe_sets(path, src, ow)
    if fw is None:
        return "diff", "floe failed: " + err
    parts = []
    for label, o, f in (("writes", ow, fw), ("reads", orr, fr)):
        if o != f:
            d = ["-" + n for n in sorted(o - f)] + ["+" + n for n in sorted(f - o)]
            parts.append("%s: %s" % (label, " ".join(d)))
    return ("diff", "; ".join(parts)) if parts else ("ok", "")


def run_all():
    files = list(stdlib_files())
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as ex:
        results = list(zip(files, ex.map(check_file, files)))
    skipped = [p for p, (s, _) in results if s == "skip"]
    diffs = [(p, d) for p, (s, d) in results if s == "diff"]
    checked = len(results) - len(skipped)
    rate = (checked - len(diffs)) / checked if checked else 0.0
    return files, skipped, diffs, checked, rate


def test_stdlib_symtable_agreement():
    assert os.path.isdir(STDLIB), STDLIB
    files, skipped, diffs, checked, rate = run_all()
    print("\nstdlib symtable agreement: %d/%d files = %.2f%% (%d skipped: do not compile with this Python)"
          % (checked - len(diffs), checked, 100 * rate, len(skipped)))
    for p, d in diffs:
        print("  DIFF %s: %s" % (os.path.relpath(p, STDLIB), d))
    assert checked > 100
    assert rate >= TARGET, "agreement %.2f%% < %.1f%%" % (100 * rate, 100 * TARGET)


if __name__ == "__main__":
    test_stdlib_symtable_agreement()
