"""Mutation testing of heard's pure core: one single-line mutation at a time, run the tests
that cover the module, record killed or survived, restore the file.

    python scripts/mutants.py MODULE_PATH RESULTS_JSONL -- pytest-args...   (one module)
    make mutants                                  (every pure-core module; table at the end)

Why not mutmut or cosmic-ray: both mutate copies or need the package importable from the
source path, while heard is installed as `heard.*` mapped onto the top-level folders; this
tool edits the mapped file itself (restored in `finally`, even on Ctrl-C) and uses Python's
`ast`, so every mutant is valid code. Operators: comparison flips (< <=, == !=, in / not in),
and/or swap, `not` removal, arithmetic swaps, constants (booleans flipped, numbers + 1,
strings compared against), min/max swap, `return x` -> `return None`, statement deletion.
"""

from __future__ import annotations

import ast
import copy
import json
import os
import signal
import subprocess
import sys
import time
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


def string_in_compare(node: ast.AST) -> bool:
    par = getattr(node, "_parent", None)
    if isinstance(par, ast.Compare):
        return True
    if isinstance(par, (ast.Tuple, ast.List, ast.Set)):
        gp = getattr(par, "_parent", None)
        if isinstance(gp, ast.Compare):
            return True
        if isinstance(gp, ast.Assign) and not in_function(gp):
            return True
    return False


def enumerate_mutations(tree: ast.AST) -> list[tuple[int, str, object]]:
    muts = []
    for idx, node in enumerate(ast.walk(tree)):
        if skipped(node):
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
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("max", "min"):
        return [("maxmin", None)]
    return []


def constant_mutations(node: ast.Constant) -> list[str]:
    v = node.value
    if isinstance(v, bool):
        return ["const_bool"]
    if isinstance(v, (int, float)):
        return ["const_num"]
    if isinstance(v, str) and string_in_compare(node):
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
    """A table of killed/survived per module from result files, then every survivor, each
    with its reason when it is explained as equivalent."""
    rows: dict[str, dict[str, int]] = {}
    survivors: list[dict[str, object]] = []
    for results in paths:
        for line in Path(results).read_text().splitlines():
            record = json.loads(line)
            counts = rows.setdefault(str(record["file"]), {"killed": 0, "survived": 0, "timeout": 0})
            counts[str(record["status"])] += 1
            if record["status"] == "survived":
                survivors.append(record)
    total_killed = total = 0
    print(f"{'module':<28} {'mutants':>8} {'killed':>8} {'survived':>9} {'killed %':>9}")
    for module, counts in sorted(rows.items()):
        n = sum(counts.values())
        killed = counts["killed"] + counts["timeout"]
        total, total_killed = total + n, total_killed + killed
        print(f"{module:<28} {n:>8} {killed:>8} {counts['survived']:>9} {100 * killed / n:>8.1f}%")
    if total:
        print(
            f"{'all':<28} {total:>8} {total_killed:>8} {total - total_killed:>9} "
            f"{100 * total_killed / total:>8.1f}%"
        )
    explained = read_equivalents()
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


def stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> None:
    if sys.argv[1] == "--summary":
        summarise(sys.argv[2:])
        return
    path, out = sys.argv[1], sys.argv[2]
    test_args = sys.argv[sys.argv.index("--") + 1 :]
    only = os.environ.get("ONLY")  # comma-separated mutant numbers to rerun
    src = Path(path).read_text()
    lines = src.splitlines()
    base = ast.parse(src)
    annotate(base)
    muts = enumerate_mutations(base)
    print(f"{path}: {len(muts)} mutants", flush=True)
    if os.environ.get("COUNT_ONLY"):
        return
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    # A background job ignores Ctrl-C: SIGTERM must restore the module too.
    signal.signal(signal.SIGTERM, stop)
    try:
        with open(out, "a") as fh:
            for n, (idx, kind, param) in enumerate(muts):
                if only and str(n) not in only.split(","):
                    continue
                tree = copy.deepcopy(base)
                annotate(tree)
                orig_node = list(ast.walk(tree))[idx]
                stmt = enclosing_stmt(orig_node)
                line = getattr(orig_node, "lineno", None) or getattr(stmt, "lineno", None)
                target = apply(tree, idx, kind, param)
                shown = show(enclosing_stmt(target))
                new_src = ast.unparse(tree)
                with open(path, "w") as f:
                    f.write(new_src)
                t0 = time.time()
                try:
                    r = subprocess.run(test_args, env=env, capture_output=True, timeout=90)
                    status = "survived" if r.returncode == 0 else "killed"
                except subprocess.TimeoutExpired:
                    status = "timeout"
                rec = {
                    "n": n,
                    "file": path,
                    "line": line,
                    "kind": kind,
                    "status": status,
                    "original": lines[line - 1].strip() if line else "",
                    "mutant": shown,
                    "secs": round(time.time() - t0, 1),
                }
                fh.write(json.dumps(rec) + "\n")
                fh.flush()
                print(n, status, line, kind, shown[:100], flush=True)
    finally:
        with open(path, "w") as f:
            f.write(src)


if __name__ == "__main__":
    main()
