"""Capture the SQL each endpoint really sends (PostgreSQL log_statement=all, set for the
bench database only), and turn each captured request into a pgbench script.

A captured request is the list of statements one HTTP request sent, in order, with
its bind parameters. In the pgbench script every statement keeps its exact text;
each bind parameter becomes
  - a pgbench variable holding the captured value (-D vN=...), bound per execution
    exactly like the app binds it (pgbench -M prepared: named prepared statements,
    extended protocol, as asyncpg);
  - for the id of an existing object: the same id for a random pool item n;
  - for an id the request created: a fresh id from pgbench random numbers;
  - NULL as NULL;
  - the version an optimistic write's guard compares (`payment_intents.version = $n`,
    db/optimistic.py) as the row's own version: the replay runs the same statement,
    but on pool rows whose version has moved since the capture.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import OUT, Config, log, psql

PG_LOG = Path("/var/log/postgresql/postgresql-15-main.log")
_ENTRY = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? \w+ \[(\d+)\] (?:(\S*)@(\S*) )?(\w+):  (.*)$")
_EXEC = re.compile(r"^execute ([^:]+): (.*)$", re.S)
_PARAM = re.compile(r"\$(\d+) = (NULL|'((?:[^']|'')*)')", re.S)
# prefix + 12 hex milliseconds + the random part (16 hex before issue 13, 32 since)
_NEW_ID = re.compile(r"^([a-z_]+_)([0-9a-f]{12})([0-9a-f]{16,32})$")
# An optimistic write's guard: the version it read.
_GUARD = re.compile(r"(payment_intents\.version = )\$\d+(::BIGINT)?")


def find_log(cfg: Config) -> Path:
    path = psql(cfg, "SELECT pg_current_logfile()")
    if path and path[0] and path[0][0]:
        p = Path(path[0][0])
        if not p.is_absolute():
            p = Path(psql(cfg, "SHOW data_directory")[0][0]) / p
        return p
    candidates = sorted(Path("/var/log/postgresql").glob("postgresql-*-main.log"))
    if not candidates:
        raise RuntimeError("cannot find the PostgreSQL server log (needed for the capture)")
    return candidates[-1]


@dataclass
class Statement:
    kind: str  # "simple" or "execute"
    sql: str
    params: list[str | None] = field(default_factory=list)

    @property
    def verb(self) -> str:
        return self.sql.lstrip().split(None, 1)[0].upper().rstrip(";")

    def parts(self) -> list[Statement]:
        """The statements one combined statement carries: escrowgate sends a
        transaction's writes as `WITH w0 AS (...), w1 AS (...) SELECT 1` (db/direct.py);
        each part comes back with its own parameters, renumbered from $1."""
        sql = self.sql.strip().rstrip(";")
        if not sql.upper().startswith("WITH W0 AS ("):
            return [self]
        out: list[Statement] = []
        for m in re.finditer(r"\bw\d+ AS \(", sql):
            depth, j = 1, m.end()
            while depth:
                depth += {"(": 1, ")": -1}.get(sql[j], 0)
                j += 1
            inner = sql[m.end():j - 1]
            numbers = sorted({int(n) for n in re.findall(r"\$(\d+)", inner)})
            new = {n: k + 1 for k, n in enumerate(numbers)}
            inner = re.sub(r"\$(\d+)", lambda x, new=new: f"${new[int(x.group(1))]}", inner)
            params = [self.params[n - 1] for n in numbers] if self.params else []
            out.append(Statement(self.kind, inner, params))
        return out

    @property
    def rows(self) -> int:
        """Rows an INSERT writes (its VALUES tuples); 1 for any other statement."""
        if self.verb != "INSERT":
            return 1
        values = re.split(r"\bVALUES\b", self.sql, maxsplit=1, flags=re.I)
        return len(re.findall(r"\)\s*,\s*\(", values[1])) + 1 if len(values) == 2 else 1

    @property
    def table(self) -> str | None:
        m = re.match(r"\s*(?:INSERT INTO|UPDATE|DELETE FROM)\s+(\w+)", self.sql, re.I)
        if m:
            return m.group(1)
        m = re.search(r"\bFROM\s+(\w+)", self.sql, re.I)
        return m.group(1) if m else None


def parse_log(text: str, db: str) -> list[Statement]:
    entries: list[list[Any]] = []  # [db, level, message]
    for line in text.splitlines():
        m = _ENTRY.match(line)
        if m:
            entries.append([m.group(3), m.group(4), m.group(5)])
        elif entries:
            entries[-1][2] += "\n" + line
    out: list[Statement] = []
    for edb, level, msg in entries:
        if edb != db:
            continue
        if level == "LOG" and msg.startswith("statement: "):
            out.append(Statement("simple", msg[len("statement: "):].strip()))
        elif level == "LOG" and msg.startswith("execute "):
            m = _EXEC.match(msg)
            if m:
                out.append(Statement("execute", m.group(2).strip()))
        elif level == "DETAIL" and msg.startswith("parameters: ") and out:
            params: dict[int, str | None] = {}
            for pm in _PARAM.finditer(msg[len("parameters: "):]):
                params[int(pm.group(1))] = (
                    None if pm.group(2) == "NULL" else pm.group(3).replace("''", "'"))
            out[-1].params = [params[i] for i in sorted(params)]
        elif level in ("ERROR", "FATAL"):
            out.append(Statement("error", msg))
    return out


class LogTail:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size

    def read(self) -> str:
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            data = fh.read()
        self.offset += len(data)
        return data.decode("utf-8", "replace")


def capture(cfg: Config, path_name: str, do_request: Any) -> tuple[list[Statement], int]:
    """Statements the server sent for one request (the caller runs it)."""
    tail = LogTail(find_log(cfg))
    started_ms = int(time.time() * 1000)
    do_request()
    time.sleep(0.6)
    stmts = parse_log(tail.read(), cfg.db)
    if any(s.kind == "error" for s in stmts):
        raise RuntimeError(f"{path_name}: the server logged an error: "
                           + "; ".join(s.sql for s in stmts if s.kind == "error"))
    # Not the request's: catalog lookups, and the key cache listener's liveness probe
    # (auth/cache.py), which lands in the window now and then.
    stmts = [s for s in stmts if "pg_catalog" not in s.sql and s.sql.strip() != "SELECT 1"]
    if not stmts:
        raise RuntimeError(f"{path_name}: no statements captured (is log_statement on?)")
    return stmts, started_ms


@dataclass
class Script:
    path: str
    text: str
    defines: dict[str, str]
    expected: dict[str, dict[str, int]]  # table -> {"ins": n, "upd": n}
    statements: list[Statement]
    pool_vars: dict[str, str]  # for documentation

    def write(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        p = directory / f"{self.path}.sql"
        p.write_text(self.text)
        return p


def build_script(path_name: str, stmts: list[Statement], started_ms: int,
                 known: dict[str, str], header: list[str]) -> Script:
    """known: captured value -> pgbench SQL expression (pool ids of item :n, :idx ...)."""
    defines: dict[str, str] = {}
    by_value: dict[str, str] = {}
    new_ids: dict[str, str] = {}
    lines = [f"-- {path_name}: generated by bench/capture.py from the statements the server",
             "-- sent for one request (PostgreSQL log_statement=all). Run with -M prepared.",
             *header]
    rand_lines: list[str] = []

    def render(value: str | None) -> str:
        if value is None:
            return "NULL"
        if value in known:
            return known[value]
        m = _NEW_ID.match(value)
        if m and int(m.group(2), 16) >= started_ms - 2000:
            if value not in new_ids:
                var = f"r{len(new_ids) + 1}"
                rand_lines.append(f"\\set {var} random(1, 4611686018427387903)")
                new_ids[value] = (f"('{m.group(1)}{m.group(2)}' || "
                                  f"lpad(to_hex(:{var}::bigint), {len(m.group(3))}, '0'))")
            return new_ids[value]
        if value not in by_value:
            var = f"v{len(by_value) + 1}"
            by_value[value] = var
            defines[var] = value
        return ":" + by_value[value]

    body: list[str] = []
    expected: dict[str, dict[str, int]] = {}
    for s in stmts:
        sql = _GUARD.sub(r"\1payment_intents.version", s.sql.rstrip().rstrip(";"))
        if s.params:
            sql = re.sub(r"\$(\d+)", lambda m, ps=s.params: render(ps[int(m.group(1)) - 1]), sql)
        body.append(sql + ";")
        for part in s.parts():
            if part.table and part.verb in ("INSERT", "UPDATE"):
                slot = expected.setdefault(part.table, {"ins": 0, "upd": 0})
                slot["ins" if part.verb == "INSERT" else "upd"] += part.rows
    text = "\n".join(lines + rand_lines + body) + "\n"
    return Script(path_name, text, defines, expected, stmts, dict(known))


def _label(s: Statement) -> str:
    if s.verb in ("BEGIN", "COMMIT", "ROLLBACK"):
        return s.verb
    if len(s.parts()) > 1:  # one statement carrying several writes
        return "WITH (" + ", ".join(_label(p) for p in s.parts()) + ")"
    lock = " FOR UPDATE" if s.sql.rstrip().rstrip(";").upper().endswith("FOR UPDATE") else ""
    return f"{s.verb} {s.table}{lock}"


def _sequence(stmts: list[Statement]) -> str:
    out: list[list[Any]] = []
    for s in stmts:
        lab = _label(s)
        if out and out[-1][0] == lab:
            out[-1][1] += 1
        else:
            out.append([lab, 1])
    return ", ".join(f"{lab} ×{n}" if n > 1 else lab for lab, n in out)


def summarize(stmts: list[Statement]) -> dict[str, Any]:
    verbs: dict[str, int] = {}
    for s in stmts:
        key = s.verb if s.verb in ("BEGIN", "COMMIT", "ROLLBACK") else _label(s)
        verbs[key] = verbs.get(key, 0) + 1
    # Consecutive executions of the same INSERT are one ORM executemany, which asyncpg
    # pipelines into one round trip (the server still logs each execution).
    trips = sum(1 for i, s in enumerate(stmts)
                if not (i and s.verb == "INSERT" and s.sql == stmts[i - 1].sql))
    return {
        "statements": len(stmts),
        "round_trips": trips,
        "transactions": sum(1 for s in stmts if s.verb == "BEGIN"),
        "queries": sum(1 for s in stmts if s.verb not in ("BEGIN", "COMMIT", "ROLLBACK")),
        "by_statement": verbs,
        "sequence": _sequence(stmts),
    }


def save_capture(path_name: str, stmts: list[Statement]) -> Path:
    p = OUT / "capture" / f"{path_name}.txt"
    p.parent.mkdir(parents=True, exist_ok=True)
    with open(p, "w") as fh:
        for s in stmts:
            fh.write(s.sql.strip() + "\n")
            if s.params:
                fh.write("  -- params: " + ", ".join(
                    "NULL" if v is None else repr(v if len(v) < 120 else v[:117] + "...")
                    for v in s.params) + "\n")
    log(f"captured {path_name}: {len(stmts)} statements -> {p.relative_to(OUT.parent.parent)}")
    return p
