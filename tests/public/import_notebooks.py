#!/usr/bin/env python3
"""Imports the public notebooks of the real-notebook suite (issue 16) from
snapshots of their repositories (git directories without a work tree, as the
agents' `fetch` tool leaves them under /work/.mirror/<owner>+<name>/repo), and
writes MANIFEST.md. Every notebook is stored with its outputs, execution
counts and widget state stripped (Jupyter recomputes them; this keeps the
repository small); the few cells dropped are listed per notebook in the
MANIFEST with the reason. Data files are copied byte for byte.

    /usr/bin/python3 tests/public/import_notebooks.py [--mirror /work/.mirror]

The selection below is the suite: re-running the script reproduces it."""
import argparse
import json
import os
import re
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))

SOURCES = {
    # dest dir: (repo, commit, license, notebooks dir in repo)
    "pdsh": ("jakevdp/PythonDataScienceHandbook", "d66231454ef753818dc9213c9b5942e067266966",
             "code MIT (LICENSE-CODE), text CC BY-NC-ND 3.0 (LICENSE-TEXT)", "notebooks"),
    "pydata-book": ("wesm/pydata-book", "d86d8056fa17b180e2a7dc1d9ae1cfb830967d50",
                    "MIT-style (COPYING), branch 3rd-edition", ""),
    "whirlwind": ("jakevdp/WhirlwindTourOfPython", "6f1daf714fe52a8dde6a288674ba46a7feed8816",
                  "CC0 (LICENSE)", ""),
    "sci-lectures": ("jrjohansson/scientific-python-lectures", "a2a76136ac06ff5fa91343ae095f1223c914d944",
                     "CC BY 3.0 (README)", ""),
}

NOTEBOOKS = {
    "pdsh": """02.01-Understanding-Data-Types 02.02-The-Basics-Of-NumPy-Arrays
        02.03-Computation-on-arrays-ufuncs 02.04-Computation-on-arrays-aggregates
        02.05-Computation-on-arrays-broadcasting 02.06-Boolean-Arrays-and-Masks 02.07-Fancy-Indexing
        02.08-Sorting 02.09-Structured-Data-NumPy 03.01-Introducing-Pandas-Objects
        03.02-Data-Indexing-and-Selection 03.03-Operations-in-Pandas 03.04-Missing-Values
        03.05-Hierarchical-Indexing 03.06-Concat-And-Append 03.07-Merge-and-Join
        03.12-Performance-Eval-and-Query 04.00-Introduction-To-Matplotlib 04.01-Simple-Line-Plots
        04.02-Simple-Scatter-Plots 04.03-Errorbars 04.04-Density-and-Contour-Plots
        04.05-Histograms-and-Binnings 04.06-Customizing-Legends 04.07-Customizing-Colorbars
        04.08-Multiple-Subplots 04.09-Text-and-Annotation 04.11-Settings-and-Stylesheets
        04.12-Three-Dimensional-Plotting 05.03-Hyperparameters-and-Model-Validation
        05.04-Feature-Engineering 05.08-Random-Forests 05.11-K-Means 05.12-Gaussian-Mixtures""".split(),
    "pydata-book": "appa ch02 ch03 ch04 ch05 ch07 ch08 ch09 ch10 ch11 ch12".split(),
    "whirlwind": """02-Basic-Python-Syntax 03-Semantics-Variables 04-Semantics-Operators
        05-Built-in-Scalar-Types 06-Built-in-Data-Structures 07-Control-Flow-Statements
        08-Defining-Functions 09-Errors-and-Exceptions 10-Iterators 11-List-Comprehensions
        12-Generators 13-Modules-and-Packages 14-Strings-and-Regular-Expressions
        15-Preview-of-Data-Science-Tools""".split(),
    "sci-lectures": "Lecture-1-Introduction-to-Python-Programming Lecture-2-Numpy Lecture-3-Scipy Lecture-4-Matplotlib Lecture-5-Sympy".split(),
}

# (repo path, dest path under tests/public/<source>/)
DATA = {
    "pdsh": [("notebooks/data/%s" % f, "data/%s" % f) for f in
             ("births.csv", "president_heights.csv", "state-abbrevs.csv", "state-areas.csv", "state-population.csv")]
            + [("notebooks_v1/data/california_cities.csv", "data/california_cities.csv"),
               ("notebooks_v1/data/Seattle2014.csv", "data/Seattle2014.csv"),
               ("notebooks/helpers_05_08.py", "helpers_05_08.py")],
    "pydata-book": [("examples/%s" % f, "examples/%s" % f) for f in
                    ("array_ex.txt", "csv_mindex.csv", "ex1.csv", "ex2.csv", "ex3.txt", "ex4.csv", "ex5.csv",
                     "ex6.csv", "ex7.csv", "example.json", "macrodata.csv", "segismundo.txt", "spx.csv",
                     "stock_px.csv", "tips.csv", "tseries.csv", "yahoo_price.pkl", "yahoo_volume.pkl")]
                   + [("datasets/titanic/%s" % f, "datasets/titanic/%s" % f) for f in ("train.csv", "test.csv")]
                   + [("datasets/movielens/%s" % f, "datasets/movielens/%s" % f) for f in ("movies.dat", "users.dat", "README")],
    "whirlwind": [],
    "sci-lectures": [("stockholm_td_adj.dat", "stockholm_td_adj.dat")],
}

# data files kept small (the repository takes no file over ~1 MB): dest path -> (rows kept, why)
TRIM = {
    "sci-lectures/stockholm_td_adj.dat": (7304, "the years 1800-1819 of 1800-2011 (2.9 MB); Jupyter and floe read the same"),
}

# cells dropped: (source dir, regex on the cell source, reason)
DROP = [
    ("sci-lectures", r"version_information", "needs the version_information IPython extension (not packaged)"),
]


def git_show(gitdir, commit, path):
    return subprocess.run(["git", "--git-dir", gitdir, "show", "%s:%s" % (commit, path)],
                          check=True, stdout=subprocess.PIPE).stdout


def strip(nb, src):
    changes = []
    cells = []
    for c in nb["cells"]:
        text = "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
        if c["cell_type"] == "code":
            hit = [why for d, rx, why in DROP if d == src and re.search(rx, text)]
            if hit:
                changes.append("dropped cell `%s`: %s" % (text.strip().splitlines()[0][:60], hit[0]))
                continue
            c["outputs"] = []
            c["execution_count"] = None
        c.pop("id", None) if nb.get("nbformat_minor", 0) < 5 else None
        cells.append(c)
    nb["cells"] = cells
    nb.get("metadata", {}).pop("widgets", None)
    return changes


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mirror", default="/work/.mirror")
    a = ap.parse_args()
    rows = []
    for src, (repo, commit, lic, nbdir) in SOURCES.items():
        gitdir = os.path.join(a.mirror, repo.replace("/", "+"), "repo")
        dest = os.path.join(HERE, src)
        for name in NOTEBOOKS[src]:
            path = (nbdir + "/" if nbdir else "") + name + ".ipynb"
            nb = json.loads(git_show(gitdir, commit, path))
            changes = strip(nb, src)
            os.makedirs(dest, exist_ok=True)
            with open(os.path.join(dest, name + ".ipynb"), "w") as f:
                json.dump(nb, f, indent=1, ensure_ascii=False)
                f.write("\n")
            ncode = sum(1 for c in nb["cells"] if c["cell_type"] == "code")
            rows.append((src, name, path, ncode, "; ".join(changes) or "outputs stripped only"))
        for rp, dp in DATA[src]:
            out = os.path.join(dest, dp)
            os.makedirs(os.path.dirname(out), exist_ok=True)
            data = git_show(gitdir, commit, rp)
            keep = TRIM.get("%s/%s" % (src, dp))
            if keep:
                data = b"".join(data.splitlines(True)[:keep[0]])
            with open(out, "wb") as f:
                f.write(data)
    with open(os.path.join(HERE, "MANIFEST.md"), "w") as f:
        f.write("# The public notebooks of the real-notebook suite\n\n"
                "Generated by `import_notebooks.py` (re-run it to reproduce the suite). Every notebook is\n"
                "stored with outputs and execution counts stripped; other changes are listed per notebook.\n\n"
                "## Sources\n\n| dir | repository | commit | license |\n|---|---|---|---|\n")
        for src, (repo, commit, lic, _) in SOURCES.items():
            f.write("| %s | https://github.com/%s | %s | %s |\n" % (src, repo, commit, lic))
        f.write("\n## Data files (copied unchanged unless a trim is noted)\n\n")
        for src in SOURCES:
            for rp, dp in DATA[src]:
                keep = TRIM.get("%s/%s" % (src, dp))
                note = " (first %d rows kept: %s)" % keep if keep else ""
                f.write("* %s/%s <- %s%s\n" % (src, dp, rp, note))
        f.write("\n## Notebooks\n\n| dir | notebook | path in repository | code cells | changes |\n|---|---|---|---:|---|\n")
        for r in rows:
            f.write("| %s | %s | %s | %d | %s |\n" % r)
    print("%d notebooks" % len(rows))


if __name__ == "__main__":
    main()
