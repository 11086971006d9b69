"""Mutation testing of heard's pure core: one single-line mutation at a time, run the tests
that cover the module, record killed or survived, restore the file.

    python scripts/mutants.py MODULE_PATH RESULTS_JSONL [--at-import TEST_FILE...] -- pytest-args...
    make mutants                                  (every pure-core module; table at the end)

Why not mutmut or cosmic-ray: both mutate copies or need the package importable from the
source path, while heard is installed as `heard.*` mapped onto the top-level folders; this
tool edits the mapped file itself (restored in `finally`, even on Ctrl-C) and uses Python's
`ast`, so every mutant is valid code. Operators: comparison flips (< <=, == !=, in / not in),
and/or swap, `not` removal, arithmetic swaps, constants (booleans flipped, numbers + 1,
strings compared against), min/max swap, `return x` -> `return None`, statement deletion.

Each mutant runs only the tests that ran the statement it changes, as the baseline recorded
them (`mutants_coverage.py`, one coverage context per test); what runs at import (a table, a
decorator, a default) runs the module's own tests, or every test. A kill is the same kill
either way; a survivor survived every test that could reach it.
"""

from __future__ import annotations

import ast
import copy
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

CMP_SWAP = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}
BIN_SWAP = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.FloorDiv,
    ast.FloorDiv: ast.Mult,
    ast.Div: ast.Mult,
    ast.Mod: ast.FloorDiv,
}


def annotate(tree: ast.AST) -> None:
    for parent in ast.walk(tree):
        for field, value in ast.iter_fields(parent):
            if isinstance(value, list):
                for i, child in enumerate(value):
                    if isinstance(child, ast.AST):
                        child._parent = parent  # type: ignore[attr-defined]
                        child._field = (field, i)  # type: ignore[attr-defined]
            elif isinstance(value, ast.AST):
                value._parent = parent  # type: ignore[attr-defined]
                value._field = (field, None)  # type: ignore[attr-defined]


def skipped(node: ast.AST) -> bool:
    """Nodes whose mutation is meaningless: docstrings, imports, f-string text, annotations."""
    cur = node
    while hasattr(cur, "_parent"):
        par = cur._parent
        field = cur._field[0]
        if isinstance(par, ast.JoinedStr):
            return True
        if isinstance(par, (ast.Import, ast.ImportFrom)):
            return True
        if isinstance(par, ast.arg) and field == "annotation":
            return True
        if isinstance(par, (ast.FunctionDef, ast.AsyncFunctionDef)) and field == "returns":
            return True
        if (
            isinstance(par, ast.AnnAssign)
            and field == "annotation"
            and not isinstance(getattr(par, "_parent", None), ast.ClassDef)
        ):
            return True
        if isinstance(par, ast.If) and isinstance(par.test, ast.Name) and par.test.id == "TYPE_CHECKING":
            return True
        cur = par
    return False


def is_docstring(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str)
    )


def in_function(node: ast.AST) -> bool:
    cur = node
    while hasattr(cur, "_parent"):
        cur = cur._parent
        if isinstance(cur, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            return True
    return False


LOG_METHODS = {"debug", "info", "warning", "error", "exception", "critical"}
# Calls whose string arguments are names and documentation, not behaviour.
DECLARATIONS = {"Counter", "Histogram", "Gauge", "Summary", "getLogger", "TypeVar", "NewType"}


def in_log_call(node: ast.AST) -> bool:
    """Inside a logging call's arguments (the wording of a log line is not behaviour), or a
    declaration's (a metric's name and help, a logger's name)."""
    cur = node
    while hasattr(cur, "_parent"):
        cur = cur._parent
        if (
            isinstance(cur, ast.Call)
            and isinstance(cur.func, ast.Attribute)
            and cur.func.attr in LOG_METHODS
            and isinstance(cur.func.value, ast.Name)
            and cur.func.value.id in {"log", "logger", "logging"}
        ):
            return True
        if isinstance(cur, ast.Call) and _called_name(cur) in DECLARATIONS:
            return True
        if isinstance(cur, ast.stmt):
            return False
    return False


def _called_name(call: ast.Call) -> str:
    func = call.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def in_table(node: ast.AST) -> bool:
    """An element (or a dict value) of a module-level constant table, nested or not."""
    cur = node
    while hasattr(cur, "_parent"):
        par = cur._parent
        if isinstance(par, (ast.Assign, ast.AnnAssign)):
            return not in_function(par) and not isinstance(getattr(par, "_parent", None), ast.ClassDef)
        if not isinstance(par, (ast.Tuple, ast.List, ast.Set, ast.Dict, ast.Call, ast.keyword)):
            return False
        cur = par
    return False


def string_mutable(node: ast.AST) -> bool:
    """A string whose value is behaviour: compared against, a dict value, a call's argument,
    or an entry of a module-level table (never a dict key, a log line or a docstring)."""
    if in_log_call(node):
        return False
    par = getattr(node, "_parent", None)
    field = getattr(node, "_field", (None, None))[0]
    if isinstance(par, ast.Compare):
        return True
    if isinstance(par, (ast.Tuple, ast.List, ast.Set)):
        gp = getattr(par, "_parent", None)
        if isinstance(gp, ast.Compare):
            return True
    if isinstance(par, ast.Dict) and field == "values":
        return True
    if isinstance(par, ast.keyword) or (isinstance(par, ast.Call) and field == "args"):
        return True
    return in_table(node) and not (isinstance(par, ast.Dict) and field == "keys")


def enumerate_mutations(tree: ast.AST) -> list[tuple[int, str, object]]:
    muts = []
    for idx, node in enumerate(ast.walk(tree)):
        if skipped(node) or (not isinstance(node, ast.stmt) and in_log_call(node)):
            # A log call's arguments are its wording; deleting the whole call still counts.
            continue
        muts.extend((idx, kind, param) for kind, param in expression_mutations(node))
        muts.extend((idx, kind, None) for kind in statement_mutations(node))
    return muts


def expression_mutations(node: ast.AST) -> list[tuple[str, object]]:
    if isinstance(node, ast.Compare):
        return [("cmp", k) for k, op in enumerate(node.ops) if type(op) in CMP_SWAP]
    if isinstance(node, ast.BoolOp):
        return [("boolop", None)]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub)):
        return [("unary_drop", None)]
    if isinstance(node, ast.BinOp) and type(node.op) in BIN_SWAP:
        return [("binop", None)]
    if isinstance(node, ast.Constant):
        return [(kind, None) for kind in constant_mutations(node)]
    if isinstance(node, ast.Call):
        found: list[tuple[str, object]] = []
        if isinstance(node.func, ast.Name) and node.func.id in ("max", "min"):
            found.append(("maxmin", None))
        if not in_log_call(node):
            # A call's keyword argument left out: the callee's default instead of the value.
            found.extend(("kwarg_drop", k) for k, kw in enumerate(node.keywords) if kw.arg is not None)
        return found
    return []


def constant_mutations(node: ast.Constant) -> list[str]:
    v = node.value
    if isinstance(v, bool):
        return ["const_bool"]
    if isinstance(v, (int, float)):
        return ["const_num"]
    if isinstance(v, str) and string_mutable(node):
        return ["const_str"]
    return []


def statement_mutations(node: ast.AST) -> list[str]:
    kinds = []
    if (
        isinstance(node, ast.Return)
        and node.value is not None
        and not (isinstance(node.value, ast.Constant) and node.value.value is None)
    ):
        kinds.append("return_none")
    if (
        isinstance(node, ast.stmt)
        and in_function(node)
        and not is_docstring(node)
        and not isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom, ast.Pass))
        and not isinstance(node, (ast.If, ast.For, ast.While, ast.With, ast.Try))
    ):
        kinds.append("delete")
    return kinds


def apply(tree: ast.AST, idx: int, kind: str, param: object) -> ast.AST:
    """Mutate in place; returns the enclosing statement (for display)."""
    node = list(ast.walk(tree))[idx]
    if kind == "cmp":
        node.ops[param] = CMP_SWAP[type(node.ops[param])]()
    elif kind == "boolop":
        node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
    elif kind == "unary_drop":
        replace(node, node.operand)
    elif kind == "binop":
        node.op = BIN_SWAP[type(node.op)]()
    elif kind == "const_bool":
        node.value = not node.value
    elif kind == "const_num":
        node.value = node.value + 1
    elif kind == "const_str":
        node.value = "XX" + node.value
    elif kind == "kwarg_drop":
        del node.keywords[param]
    elif kind == "maxmin":
        node.func.id = "min" if node.func.id == "max" else "max"
    elif kind == "return_none":
        node.value = ast.Constant(None)
    elif kind == "delete":
        p = ast.Pass()
        ast.copy_location(p, node)
        replace(node, p)
        return p
    return node


def replace(old: ast.AST, new: ast.AST) -> None:
    par = old._parent
    field, i = old._field
    new._parent, new._field = par, old._field
    if i is None:
        setattr(par, field, new)
    else:
        getattr(par, field)[i] = new


def enclosing_stmt(node: ast.AST) -> ast.AST:
    cur = node
    while not isinstance(cur, ast.stmt) and hasattr(cur, "_parent"):
        cur = cur._parent
    return cur


def show(stmt: ast.AST) -> str:
    text = ast.unparse(stmt)
    return text.splitlines()[0] if text else text


EQUIVALENTS = Path(__file__).with_name("equivalent-mutants.txt")


def function_at(path: str, line: int) -> str:
    """The innermost function around `line` of the file as it is now ("" at module level)."""
    name, span = "", None
    for node in ast.walk(ast.parse(Path(path).read_text())):
        if (
            isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno
            and node.lineno <= line <= node.end_lineno
            and (span is None or node.end_lineno - node.lineno < span)
        ):
            name, span = node.name, node.end_lineno - node.lineno
    return name


def survivor_key(record: dict[str, object]) -> str:
    """A survivor by file, function, original line and mutant: stable when other lines move.
    The results are read against the source they were made from (the same checkout)."""
    where = (
        function_at(str(record["file"]), int(str(record["line"])))
        if Path(str(record["file"])).exists()
        else ""
    )
    return f"{record['file']}:{where}: {record['original']}  ->  {record['mutant']}"


def read_equivalents(path: Path = EQUIVALENTS) -> dict[str, str]:
    """Mutants explained as equivalent: a line `file:function: original  ->  mutant`, then the reason
    on the lines below it, indented. `#` starts a comment line."""
    explained: dict[str, str] = {}
    key = None
    for line in path.read_text().splitlines() if path.exists() else []:
        if not line.strip() or line.startswith("#"):
            continue
        if line[0].isspace():
            if key is None:
                raise SystemExit(f"{path}: a reason before any mutant: {line.strip()!r}")
            explained[key] = f"{explained.get(key, '')} {line.strip()}".strip()
        else:
            key = line.strip()
            explained.setdefault(key, "")
    return explained


def summarise(paths: list[str]) -> None:
    """A table per module: killed, survived, timed out and errored apart; the score is the
    share killed or explained as equivalent (a timeout or an error is neither). Then every
    survivor, with its reason when it is explained, and the first test that killed each kill
    in the results files."""
    rows: dict[str, dict[str, int]] = {}
    survivors: list[dict[str, object]] = []
    explained = read_equivalents()
    for results in paths:
        for line in Path(results).read_text().splitlines():
            record = json.loads(line)
            counts = rows.setdefault(
                str(record["file"]),
                {"killed": 0, "survived": 0, "timeout": 0, "error": 0, "equivalent": 0},
            )
            counts[str(record["status"])] += 1
            if record["status"] == "survived":
                survivors.append(record)
                if explained.get(survivor_key(record)):
                    counts["equivalent"] += 1
    print(
        f"{'module':<36} {'mutants':>7} {'killed':>7} {'equiv':>6} {'survived':>8} "
        f"{'timeout':>7} {'error':>6} {'score':>7}"
    )
    total = total_scored = 0
    below = []
    for module, counts in sorted(rows.items()):
        n = sum(v for k, v in counts.items() if k != "equivalent")
        scored = counts["killed"] + counts["equivalent"]
        total, total_scored = total + n, total_scored + scored
        score = 100 * scored / n if n else 100.0
        if score < 90:
            below.append(module)
        print(
            f"{module:<36} {n:>7} {counts['killed']:>7} {counts['equivalent']:>6} "
            f"{counts['survived'] - counts['equivalent']:>8} {counts['timeout']:>7} "
            f"{counts['error']:>6} {score:>6.1f}%"
        )
    if total:
        share = 100 * total_scored / total
        print(f"{'all':<36} {total:>7}{' ' * 42}{share:>6.1f}%")
    print(f"modules below 90 %: {', '.join(below) if below else 'none'}")
    unexplained = [r for r in survivors if not explained.get(survivor_key(r))]
    print(
        f"survivors explained as equivalent: {len(survivors) - len(unexplained)}; "
        f"unexplained: {len(unexplained)}"
    )
    for record in survivors:
        reason = explained.get(survivor_key(record))
        print(
            f"{'equivalent' if reason else 'survived'} {record['file']}:{record['line']}  "
            f"{record['original']}  ->  {record['mutant']}"
        )
        if reason:
            print(f"    {reason}")


FAILED_LINE = re.compile(r"^(?:FAILED|ERROR) (\S+)", re.MULTILINE)


def baseline(
    path: str, test_args: list[str], env: dict[str, str]
) -> tuple[float, dict[int, set[str]], dict[str, float]]:
    """Run the tests on the unmutated module first: a red or empty baseline (a mistyped test
    path, a broken checkout) refuses to score anything. Returns the per-mutant timeout,
    scaled from the baseline's time so a loaded machine does not turn slow runs into kills,
    which tests ran each line of the module and each test's seconds (`mutants_coverage`)."""
    Path(out_dir()).mkdir(parents=True, exist_ok=True)
    data_file = Path(out_dir()) / f".coverage.{Path(path).stem}"
    data_file.unlink(missing_ok=True)
    cover_env = dict(
        env,
        MUTANTS_COVER=str(Path(path).resolve()),
        MUTANTS_COVER_DATA=str(data_file),
        PYTHONPATH=os.pathsep.join(filter(None, [str(Path(__file__).parent), env.get("PYTHONPATH")])),
    )
    t0 = time.monotonic()
    r = subprocess.run([*test_args, "-p", "mutants_coverage"], env=cover_env, capture_output=True, text=True)
    took = time.monotonic() - t0
    if r.returncode != 0:
        tail = "\n".join((r.stdout + r.stderr).splitlines()[-15:])
        raise SystemExit(f"{path}: the baseline test run exited {r.returncode}; nothing scored.\n{tail}")
    timeout = max(30.0, 5 * took + 10)
    print(
        f"{path}: baseline green in {took:.1f} s; a mutant's run times out after {timeout:.0f} s", flush=True
    )
    seconds = json.loads(data_file.with_name(data_file.name + ".seconds.json").read_text())
    return timeout, tests_by_line(data_file, path), seconds


def out_dir() -> str:
    return os.environ.get("MUTANTS_WORK", "build/mutants")


def tests_by_line(data_file: Path, path: str) -> dict[int, set[str]]:
    """Line -> the ids of the tests that ran it. Lines run only while importing (module
    constants, tables, class bodies, defaults) have no test: their mutants run every test."""
    import coverage  # the dev dependencies' coverage.py; only the baseline needs it

    data = coverage.CoverageData(basename=str(data_file))
    data.read()
    by_line = data.contexts_by_lineno(str(Path(path).resolve()))
    return {line: {c for c in contexts if c} for line, contexts in by_line.items()}


def selected_args(
    test_args: list[str], stmt: ast.AST, by_line: dict[int, set[str]], at_import: list[str] | None = None
) -> tuple[list[str], str]:
    """The test command narrowed to the tests that ran any line of the mutated statement (a
    compound statement: its whole body). When none did, as for a line run only at import
    (where coverage sees no test), the module's own tests (`at_import`), else every test.
    With it, what was run, for the results: "all", "at import" or the number of tests."""
    first: int | None = getattr(stmt, "lineno", None)
    last: int = getattr(stmt, "end_lineno", None) or first or 0
    tests = sorted(set[str]().union(*(by_line.get(n, set()) for n in range(first or 1, last + 1))))
    if first is None or not tests:
        return ([*options_of(test_args), *at_import], "at import") if at_import else (test_args, "all")
    return [*options_of(test_args), *tests], str(len(tests))


def runs_at_import(node: ast.AST) -> bool:
    """Whether the node is evaluated when the module is imported, not when a function runs:
    outside every function body (a decorator, a default, a class attribute, a table). No
    test's coverage shows such a line, and a test that never runs it may depend on it."""
    cur = node
    while hasattr(cur, "_parent"):
        parent = cur._parent
        if (
            isinstance(parent, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            and cur._field[0] == "body"
        ):
            return False
        cur = parent
    return True


def options_of(test_args: list[str]) -> list[str]:
    """The test command without its test files and folders."""
    return [a for a in test_args if not (a.endswith(".py") or Path(a).is_dir())]


def run_tests(test_args: list[str], env: dict[str, str], timeout: float) -> tuple[str, str | None]:
    """(status, first failing test). pytest exits 1 when tests failed: a kill. A collection
    error caused by the mutant (exit 2 with an error collecting) is a kill too; any other
    exit (usage, internal error, no tests) is an `error`, never counted as a kill."""
    try:
        r = subprocess.run(test_args, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", None
    found = FAILED_LINE.search(r.stdout)
    first = found.group(1) if found else None
    if r.returncode == 0:
        return "survived", None
    if r.returncode == 1 or (r.returncode == 2 and "ERROR collecting" in r.stdout):
        return "killed", first or "(collection)"
    return "error", f"pytest exited {r.returncode}"


def stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@dataclass
class Run:
    """One module's run: its source, the test command and what the baseline recorded."""

    path: str
    src: str
    base: ast.AST
    test_args: list[str]
    at_import: list[str] | None
    env: dict[str, str]
    timeout: float
    by_line: dict[int, set[str]]
    seconds: dict[str, float]

    def timeout_for(self, narrowed: list[str]) -> float:
        """Five times what the chosen tests took in the baseline, plus a start-up's 30 s;
        never more than the whole suite's timeout, which is the timeout of the whole suite."""
        if narrowed is self.test_args:
            return self.timeout
        chosen = [arg.rstrip("/") for arg in narrowed if not arg.startswith("-")]
        took = sum(
            spent
            for test, spent in self.seconds.items()
            if any(test == arg or test.startswith((arg + "::", arg + "/")) for arg in chosen)
        )
        return min(self.timeout, 5 * took + 30)

    def mutant(self, n: int, idx: int, kind: str, param: object) -> dict[str, object]:
        """Write mutant `n` into the module, run the tests that can reach it, and say how
        it went (the module is restored by the caller)."""
        tree = copy.deepcopy(self.base)
        annotate(tree)
        orig_node = list(ast.walk(tree))[idx]
        stmt = enclosing_stmt(orig_node)
        line = getattr(orig_node, "lineno", None) or getattr(stmt, "lineno", None)
        chosen_by = ast.Module(body=[], type_ignores=[]) if runs_at_import(orig_node) else stmt
        narrowed, tests_run = selected_args(self.test_args, chosen_by, self.by_line, self.at_import)
        shown = show(enclosing_stmt(apply(tree, idx, kind, param)))
        Path(self.path).write_text(ast.unparse(tree))
        t0 = time.time()
        status, first_failure = run_tests(narrowed, self.env, self.timeout_for(narrowed))
        if status == "error" and narrowed is not self.test_args:
            # A test id pytest could not take back (an odd parameter): the whole set.
            status, first_failure = run_tests(self.test_args, self.env, self.timeout)
        return {
            "n": n,
            "file": self.path,
            "line": line,
            "kind": kind,
            "status": status,
            "original": self.src.splitlines()[line - 1].strip() if line else "",
            "mutant": shown,
            "secs": round(time.time() - t0, 1),
            "first_failure": first_failure,
            "tests_run": tests_run,
        }


def main() -> None:
    if sys.argv[1] == "--summary":
        summarise(sys.argv[2:])
        return
    path, out = sys.argv[1], sys.argv[2]
    test_args = sys.argv[sys.argv.index("--") + 1 :]
    # `--at-import FILE...` before `--`: the tests for statements run only at import.
    ours = sys.argv[3 : sys.argv.index("--")]
    at_import = ours[ours.index("--at-import") + 1 :] if "--at-import" in ours else None
    only = os.environ.get("ONLY")  # comma-separated mutant numbers to rerun
    src = Path(path).read_text()
    base = ast.parse(src)
    annotate(base)
    muts = enumerate_mutations(base)
    print(f"{path}: {len(muts)} mutants", flush=True)
    if os.environ.get("COUNT_ONLY"):
        return
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    timeout, by_line, seconds = baseline(path, test_args, env)
    run = Run(path, src, base, test_args, at_import, env, timeout, by_line, seconds)
    # A background job ignores Ctrl-C: SIGTERM must restore the module too.
    signal.signal(signal.SIGTERM, stop)
    try:
        with open(out, "a") as fh:
            for n, (idx, kind, param) in enumerate(muts):
                if only and str(n) not in only.split(","):
                    continue
                rec = run.mutant(n, idx, kind, param)
                fh.write(json.dumps(rec) + "\n")
                fh.flush()
                print(n, rec["status"], rec["line"], kind, str(rec["mutant"])[:100], flush=True)
    finally:
        Path(path).write_text(src)


if __name__ == "__main__":
    main()
