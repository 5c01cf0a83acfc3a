"""The yardstick: hand-written pgbench scripts with the least SQL that does the durable
work each endpoint must guarantee (bench/minimal_sql/*.sql, reviewed in bench/README.md).

The scripts name everything through pgbench variables; this module supplies them: the
bench merchant and key, the id prefixes of the pools, and the values the app wrote that
the script must write too (the events' JSON payloads, the intent's metadata and phases),
taken from the captured statements so that the rows carry the same bytes."""

from __future__ import annotations

import re
import time
from pathlib import Path

from capture import Statement
from common import BENCH
from seed import PREFIX, TAG_FILLER_BENCH, TAG_MS_POOL, TAG_PGB_COMPLETE, State

DIR = BENCH / "minimal_sql"


def script(path: str) -> Path:
    return DIR / f"{path}.sql"


def expected(path: str) -> dict[str, dict[str, int]]:
    """The rows one transaction writes, from the script's `-- expect:` line."""
    out: dict[str, dict[str, int]] = {}
    for line in script(path).read_text().splitlines():
        if line.startswith("-- expect:"):
            for m in re.finditer(r"(\w+) (ins|upd) (\d+)", line):
                out.setdefault(m.group(1), {"ins": 0, "upd": 0})[m.group(2)] = int(m.group(3))
    return out


def statements(path: str) -> int:
    """Round trips per run of the script (statements ending with ';', BEGIN/COMMIT too)."""
    n = 0
    for line in script(path).read_text().splitlines():
        s = line.strip()
        if not s or s.startswith(("--", "\\")):
            continue
        if s.endswith(";") or s.endswith("\\gset"):
            n += 1
    return n


def _columns(s: Statement) -> list[str]:
    if s.verb == "INSERT":
        m = re.search(r"\(([^)]*)\)\s*VALUES", s.sql, re.I | re.S)
        return [c.strip() for c in m.group(1).split(",")] if m else []
    if s.verb == "UPDATE":
        m = re.search(r"\bSET\s+(.*?)\s+WHERE\b", s.sql, re.I | re.S)
        return [a.split("=")[0].strip() for a in m.group(1).split(",")] if m else []
    return []


def param(stmts: list[Statement], verb: str, table: str, column: str) -> list[str]:
    """Every value the app bound to `column` in its `verb` statements on `table`, in order."""
    out = []
    for s in (part for st in stmts for part in st.parts()):
        if s.verb != verb or s.table != table:
            continue
        cols = _columns(s)
        if column not in cols:
            continue
        for row in range(s.rows):  # a multi-row INSERT: its values row after row
            i = row * len(cols) + cols.index(column)
            if i < len(s.params) and s.params[i] is not None:
                out.append(s.params[i])
    return out


def defines(path: str, st: State, captured: list[Statement], concurrency: int,
            ms_pool: int, pgb_pool: int) -> dict[str, str]:
    d = {"key_hash": st.key_hash, "merchant": st.merchant, "mode": "test",
         "idms": f"{int(time.time() * 1000):012x}", "now": str(int(time.time()))}
    payloads = param(captured, "INSERT", "events", "payload")
    if path == "create_intent":
        d["metadata"] = param(captured, "INSERT", "payment_intents", "metadata")[0]
        d["phases"] = param(captured, "INSERT", "payment_intents", "phases")[0]
        d["p_intent"], d["p_order"] = payloads[0], payloads[1]
    elif path == "create_milestone":
        d["ms_intent"] = f"{PREFIX['intent']}{st.stamp}{TAG_MS_POOL}"
        d["p_milestone"] = payloads[0]
        d.update(k="0", nc=str(concurrency), slots=str(max(1, ms_pool // concurrency)))
    elif path == "complete_release":
        d["c_intent"] = f"{PREFIX['intent']}{st.stamp}{TAG_PGB_COMPLETE}"
        d["c_milestone"] = f"{PREFIX['milestone']}{st.stamp}{TAG_PGB_COMPLETE}"
        d["pool"] = str(pgb_pool)
        d["phases"] = param(captured, "UPDATE", "payment_intents", "phases")[0]
        for i, p in enumerate(payloads[:5], 1):
            d[f"e{i}"] = p
    elif path == "get_intent":
        d["g_intent"] = f"{PREFIX['intent']}{st.stamp}{TAG_FILLER_BENCH}"
        d["pool"] = str(st.filler[TAG_FILLER_BENCH])
    return d
