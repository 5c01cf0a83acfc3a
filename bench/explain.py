"""EXPLAIN of the hot queries on the tables that grow without bound (events, ledger
entries, webhook deliveries and attempts) at 10x today's sizes, for the report's
"Growth" section. Seeds its own scratch database (escrowgate_bench_explain, dropped and
recreated, dropped again at the end unless BENCH_EXPLAIN_KEEP=1) with generate_series:
BENCH_EXPLAIN_INTENTS payment intents' worth of rows (default 1,500,000; BENCH_QUICK:
20,000), 4 events and 4 ledger entries per intent (funding and release, two legs each),
a webhook delivery and attempt for 1 event in 100, the newest deliveries pending and the
newest events not yet dispatched. Half of every table belongs to one merchant (the
worst case a tenant query meets), the other half to 100 small ones.

Each query is the statement the code sends (same predicates, order and limit), run as
a generic prepared plan (what a cached statement runs) with EXPLAIN (ANALYZE, BUFFERS)
inside a transaction that is rolled back. A plan with a Seq Scan is flagged.

Alone: `BENCH_QUICK=1 .venv/bin/python bench/explain.py` (prints the plans)."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Config, load_config, log, psql, psql_value  # noqa: E402
from server import cli  # noqa: E402

EVENTS_PER_INTENT = 4
ENTRIES_PER_INTENT = 4
DAYS = 180  # the seeded rows spread over this many days, oldest first
BIG = "merchant_big"
EVENT_TYPES = (
    "payment_intent.created",
    "escrow_order.created",
    "payment_intent.status_changed",
    "milestone.released",
)


def intents_for(cfg: Config) -> int:
    # 10x today's sizes by bytes: at 1 million intents the events table was 398 MB; these
    # rows are heavier (4 events of ~850 bytes per intent), so 1.5 million intents give
    # 6 million events in ~4.9 GB (12x), and the ledger the same. 10 million intents'
    # worth would need ~90 GB of disk for no different plan.
    default = "20000" if cfg.quick else "1500000"
    return int(os.environ.get("BENCH_EXPLAIN_INTENTS", default))


def _hex_id(prefix: str, ms_sql: str, n_sql: str) -> str:
    return (f"'{prefix}' || lpad(to_hex({ms_sql}), 12, '0') || "
            f"lpad(to_hex({n_sql}), 32, '0')")


def seed(cfg: Config, intents: int) -> dict[str, Any]:
    """Rows shaped as the code writes them; returns ids the queries use."""
    events = intents * EVENTS_PER_INTENT
    entries = intents * ENTRIES_PER_INTENT
    now_ms = int(time.time() * 1000)
    start_ms = now_ms - DAYS * 24 * 3600 * 1000
    ev_step = max(1, (now_ms - start_ms) // max(1, events))
    le_step = max(1, (now_ms - start_ms) // max(1, entries))
    merchant = f"(CASE WHEN g % 2 = 0 THEN '{BIG}' ELSE 'merchant_s' || (g % 100) END)"
    types = "ARRAY[" + ", ".join(f"'{t}'" for t in EVENT_TYPES) + "]"
    ev_ms = f"({start_ms}::bigint + g::bigint * {ev_step})"
    # One intent per EVENTS_PER_INTENT consecutive events: its id's time is its first's.
    ev_intent_ms = (f"({start_ms}::bigint + (g / {EVENTS_PER_INTENT})::bigint * "
                    f"{EVENTS_PER_INTENT * ev_step})")
    intent_of_event = _hex_id("intent_", ev_intent_ms, f"(g / {EVENTS_PER_INTENT})")
    psql(cfg, f"""
SET synchronous_commit = off;
SET maintenance_work_mem = '256MB';
INSERT INTO events (id, merchant_id, mode, type, object_id, payload, created_at,
                    request_id, idempotency_key, dispatched_at)
SELECT {_hex_id('evt_', ev_ms, 'g')}, {merchant}, 'test', ({types})[(g / 2) % 4 + 1],
       {intent_of_event},
       json_build_object('id', {intent_of_event}, 'status', 'SUCCEEDED',
                         'amount', '1000.00', 'currency', 'USDC'),
       {ev_ms} / 1000, 'req_' || md5(g::text), NULL,
       CASE WHEN g > {events} - 100 THEN NULL ELSE {ev_ms} + 50 END
FROM generate_series(1, {events}) AS g;
""", timeout=7200)
    le_ms = f"({start_ms}::bigint + g::bigint * {le_step})"
    # Entries of one intent (and of one transaction) share its id, made at its first.
    le_intent_ms = (f"({start_ms}::bigint + (g / {ENTRIES_PER_INTENT})::bigint * "
                    f"{ENTRIES_PER_INTENT * le_step})")
    le_tx_ms = f"({start_ms}::bigint + (g / 2)::bigint * {2 * le_step})"
    le_intent = _hex_id("intent_", le_intent_ms, f"(g / {ENTRIES_PER_INTENT})")
    psql(cfg, f"""
SET synchronous_commit = off;
INSERT INTO ledger_entries (id, transaction_id, merchant_id, mode, currency, account, amount,
                            kind, payment_intent_id, conditional_payment_id, reference_id,
                            created_at)
SELECT {_hex_id('le_', le_ms, 'g')}, {_hex_id('ltx_', le_tx_ms, '(g / 2)')},
       (CASE WHEN (g / {ENTRIES_PER_INTENT}) % 2 = 0 THEN '{BIG}'
             ELSE 'merchant_s' || ((g / {ENTRIES_PER_INTENT}) % 100) END),
       'test', 'USDC',
       (ARRAY['escrow', 'payer', 'merchant_pending', 'escrow'])[g % 4 + 1],
       CASE WHEN g % 2 = 0 THEN 1000000000 ELSE -1000000000 END,
       CASE WHEN (g / 2) % 2 = 0 THEN 'FUND' ELSE 'RELEASE' END,
       {le_intent},
       {_hex_id('conditional_payment_', le_intent_ms, f'(g / {ENTRIES_PER_INTENT})')},
       NULL, {le_ms} / 1000
FROM generate_series(1, {entries}) AS g;
""", timeout=7200)
    psql(cfg, f"""
SET synchronous_commit = off;
INSERT INTO webhook_endpoints (id, merchant_id, mode, url, enabled_events, disabled, deleted,
                               secret_generation, created_ms, created_at, updated_at)
VALUES ('we_bench', '{BIG}', 'test', 'https://example.com/hook', '["*"]', false, false, 1,
        0, 0, 0);
INSERT INTO webhook_deliveries (id, event_id, endpoint_id, merchant_id, mode, status,
                                attempts, next_attempt_at, created_at, finished_at)
SELECT 'wd_' || e.id, e.id, 'we_bench', e.merchant_id, 'test',
       CASE WHEN e.created_at > extract(epoch FROM now()) - 3600 THEN 'PENDING'
            ELSE 'SUCCEEDED' END,
       1, NULL, e.created_at * 1000, e.created_at * 1000
FROM events e WHERE e.merchant_id = '{BIG}' AND right(e.id, 2) = '00';
INSERT INTO webhook_attempts (id, delivery_id, endpoint_id, event_id, event_type, merchant_id,
                              mode, attempt, attempted_at, status_code, duration_ms,
                              succeeded, delivery_status)
SELECT 'wa_' || d.event_id, d.id, d.endpoint_id, d.event_id, 'payment_intent.created',
       d.merchant_id, 'test', 1, d.created_at, 200, 5, true, d.status
FROM webhook_deliveries d;
""", timeout=7200)
    psql(cfg, "VACUUM (ANALYZE) events, ledger_entries, webhook_deliveries, webhook_attempts",
         timeout=7200)
    pick = lambda sql: psql_value(cfg, sql)  # noqa: E731
    middle_event = pick(f"SELECT id FROM events WHERE merchant_id = '{BIG}' ORDER BY id "
                        f"OFFSET {events // 4} LIMIT 1")
    old_entry = pick(f"SELECT payment_intent_id || ' ' || conditional_payment_id || ' ' || "
                     f"transaction_id FROM ledger_entries WHERE merchant_id = '{BIG}' "
                     f"ORDER BY id OFFSET {entries // 100} LIMIT 1").split()
    cutoff = "evt_" + format(now_ms - 90 * 24 * 3600 * 1000, "012x")
    batch = [r[0] for r in psql(cfg, (
        f"SELECT events.id FROM events WHERE events.id < {_lit(cutoff)} AND "
        "events.dispatched_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d "
        "WHERE d.event_id = events.id AND d.status = 'PENDING') ORDER BY events.id LIMIT 1000"))]
    return {
        "batch": batch,
        "events": events,
        "entries": entries,
        "middle_event": middle_event,
        "old_intent": old_entry[0],
        "old_order": old_entry[1],
        "old_transaction": old_entry[2],
        "retention_cutoff": cutoff,
    }


def queries(ids: dict[str, Any]) -> list[tuple[Any, ...]]:
    """(name, the route or job, SQL with $n, arguments, SQL run before it in the same
    rolled-back transaction)."""
    ev = ("SELECT events.id, events.merchant_id, events.mode, events.type, events.object_id, "
          "events.payload, events.created_at, events.request_id, events.idempotency_key, "
          "events.dispatched_at FROM events")
    le = ("SELECT ledger_entries.id, ledger_entries.transaction_id, ledger_entries.merchant_id, "
          "ledger_entries.mode, ledger_entries.currency, ledger_entries.account, "
          "ledger_entries.amount, ledger_entries.kind, ledger_entries.payment_intent_id, "
          "ledger_entries.conditional_payment_id, ledger_entries.reference_id, "
          "ledger_entries.created_at FROM ledger_entries")
    tenant = "merchant_id = $1 AND mode = $2"
    big = [BIG, "test"]
    pending = ("NOT (EXISTS (SELECT * FROM webhook_deliveries WHERE webhook_deliveries.event_id"
               " = events.id AND webhook_deliveries.status = 'PENDING'))")
    batch = (f"SELECT events.id FROM events WHERE events.id < $1 AND events.dispatched_at IS NOT"
             f" NULL AND {pending} ORDER BY events.id LIMIT 1000")
    batch_ids = "{" + ",".join(ids["batch"]) + "}"
    attempts_gone = ("DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT id FROM "
                     f"webhook_deliveries WHERE event_id = ANY({_lit(batch_ids)}));\n")
    deliveries_gone = f"DELETE FROM webhook_deliveries WHERE event_id = ANY({_lit(batch_ids)});\n"
    return [
        ("events_list", "GET /v1/events",
         f"{ev} WHERE {tenant} ORDER BY id DESC LIMIT 11", big),
        ("events_list_page", "GET /v1/events?starting_after= (a page deep in the list)",
         f"{ev} WHERE {tenant} AND id < $3 ORDER BY id DESC LIMIT 11",
         [*big, ids["middle_event"]]),
        ("events_cursor_check", "GET /v1/events?starting_after= (the cursor is the caller's)",
         f"SELECT events.id FROM events WHERE {tenant} AND id = $3",
         [*big, ids["middle_event"]]),
        ("events_by_type", "GET /v1/events?type=",
         f"{ev} WHERE {tenant} AND type = $3 ORDER BY id DESC LIMIT 11",
         [*big, "milestone.released"]),
        ("event_get", "GET /v1/events/{id}",
         f"{ev} WHERE id = $3 AND {tenant}", [*big, ids["middle_event"]]),
        ("webhook_dispatch", "worker: fan out undispatched events",
         f"{ev} WHERE dispatched_at IS NULL ORDER BY id LIMIT 100 FOR UPDATE SKIP LOCKED", []),
        ("retention_batch", "worker: events retention, one batch",
         batch + " FOR UPDATE OF events SKIP LOCKED", [ids["retention_cutoff"]]),
        # The code deletes the batch's ids as a bound list (IN (...), like = ANY here).
        ("retention_attempts", "worker: events retention, the batch's attempts",
         "DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT webhook_deliveries.id FROM"
         " webhook_deliveries WHERE webhook_deliveries.event_id = ANY($1::varchar[]))",
         [batch_ids]),
        ("retention_deliveries", "worker: events retention, the batch's deliveries",
         "DELETE FROM webhook_deliveries WHERE event_id = ANY($1::varchar[])",
         [batch_ids], attempts_gone),
        ("retention_events", "worker: events retention, the batch's events",
         "DELETE FROM events WHERE id = ANY($1::varchar[])", [batch_ids],
         attempts_gone + deliveries_gone),
        ("ledger_list", "GET /v1/account/ledger-entries",
         f"{le} WHERE {tenant} ORDER BY id DESC LIMIT 11", big),
        ("ledger_list_intent", "GET /v1/account/ledger-entries?paymentIntentId= (an old one)",
         f"{le} WHERE {tenant} AND payment_intent_id = $3 ORDER BY id DESC LIMIT 11",
         [*big, ids["old_intent"]]),
        ("ledger_list_operator", "GET .../ledger-entries?paymentIntentId= (operator key)",
         f"{le} WHERE payment_intent_id = $1 AND mode = $2 ORDER BY id DESC LIMIT 11",
         [ids["old_intent"], "test"]),
        ("ledger_list_kind", "GET /v1/account/ledger-entries?transactionType=",
         f"{le} WHERE {tenant} AND kind = $3 ORDER BY id DESC LIMIT 11", [*big, "RELEASE"]),
        ("ledger_by_order", "order reads and the audit of one order",
         f"{le} WHERE conditional_payment_id = $1", [ids["old_order"]]),
        ("ledger_by_transaction", "one ledger transaction",
         f"{le} WHERE transaction_id = $1", [ids["old_transaction"]]),
        ("balance_small_merchant", "GET /v1/account/balance (a merchant with 0.5 % of rows)",
         "SELECT currency, account, sum(amount) FROM ledger_entries WHERE " + tenant
         + " GROUP BY currency, account", ["merchant_s1", "test"]),
        ("balance_big_merchant", "GET /v1/account/balance (the merchant with half the rows)",
         "SELECT currency, account, sum(amount) FROM ledger_entries WHERE " + tenant
         + " GROUP BY currency, account", big),
    ]


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def explain_all(cfg: Config, ids: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for name, route, sql, args, *rest in queries(ids):
        setup = rest[0] if rest else ""
        call = f"EXECUTE q({', '.join(_lit(a) for a in args)})" if args else "EXECUTE q"
        text = (f"BEGIN;\nSET LOCAL plan_cache_mode = force_generic_plan;\n{setup}"
                f"PREPARE q AS {sql};\n"
                f"EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, SUMMARY ON) {call};\nROLLBACK;\n")
        try:
            plan = [r[0] for r in psql(cfg, text, timeout=3600)]
        except RuntimeError as exc:
            plan = [f"(EXPLAIN failed: {exc})"]
        execution = next((p.split(":", 1)[1].strip() for p in plan
                          if p.startswith("Execution Time")), "?")
        scanned = [int(m.group(1)) for p in plan if "Scan" in p
                   for m in [re.search(r"actual rows=(\d+)", p)] if m]
        out.append({
            "name": name, "route": route, "sql": sql, "plan": plan,
            "seq_scan": any("Seq Scan" in p for p in plan),
            "rows_scanned": max(scanned, default=0),
            "execution": execution,
        })
    return out


BYTES_PER_ROW = 850  # an event or a ledger entry with its indexes, as seeded here


def disk_check(cfg: Config, intents: int) -> str | None:
    """Why the seed would not fit (None: it fits, or the data directory is not local)."""
    need = intents * (EVENTS_PER_INTENT + ENTRIES_PER_INTENT) * BYTES_PER_ROW * 1.3
    try:
        data_dir = psql_value(cfg, "SHOW data_directory", db="postgres")
        stat = os.statvfs(data_dir)
    except (OSError, RuntimeError):
        return None
    free = stat.f_bavail * stat.f_frsize
    if need > free:
        return (f"needs about {need / 1e9:.0f} GB for {intents:,} intents, "
                f"{free / 1e9:.0f} GB free: set BENCH_EXPLAIN_INTENTS lower")
    return None


def measure(cfg: Config) -> dict[str, Any]:
    intents = intents_for(cfg)
    scratch = dataclasses.replace(cfg, db=cfg.db + "_explain")
    assert scratch.db.startswith("escrowgate_bench"), scratch.db
    too_big = disk_check(scratch, intents)
    if too_big:
        log(f"explain: skipped: {too_big}")
        return {"skipped": too_big, "intents": intents}
    started = time.monotonic()
    psql(scratch, f"DROP DATABASE IF EXISTS {scratch.db} WITH (FORCE)", db="postgres")
    psql(scratch, f"CREATE DATABASE {scratch.db}", db="postgres")
    try:
        cli(scratch, "migrate")
        log(f"explain: seeding {intents:,} intents' worth of events and ledger entries ...")
        ids = seed(scratch, intents)
        seeded = time.monotonic() - started
        sizes = {r[0]: r[1] for r in psql(scratch, (
            "SELECT relname, pg_size_pretty(pg_total_relation_size(oid)) FROM pg_class "
            "WHERE relname IN ('events', 'ledger_entries', 'webhook_deliveries', "
            "'webhook_attempts') ORDER BY relname"))}
        plans = explain_all(scratch, ids)
    finally:
        if os.environ.get("BENCH_EXPLAIN_KEEP", "") in ("", "0"):
            psql(scratch, f"DROP DATABASE IF EXISTS {scratch.db} WITH (FORCE)", db="postgres")
    return {
        "intents": intents,
        "events": ids["events"],
        "ledger_entries": ids["entries"],
        "sizes": sizes,
        "seed_seconds": round(seeded, 1),
        "plans": plans,
        "command": ("BENCH_QUICK=1 " if cfg.quick else "") + "python bench/explain.py",
    }


def main() -> int:
    cfg = load_config()
    result = measure(cfg)
    if result.get("skipped"):
        print(f"skipped: {result['skipped']}")
        return 2
    out = Path(os.environ.get("BENCH_OUT", Path(__file__).resolve().parent / "out"))
    out.mkdir(parents=True, exist_ok=True)
    (out / "explain.json").write_text(json.dumps(result, indent=2))
    print(f"{result['intents']:,} intents: {result['events']:,} events, "
          f"{result['ledger_entries']:,} ledger entries; sizes {result['sizes']}; "
          f"seeded in {result['seed_seconds']} s")
    for p in result["plans"]:
        flag = "SEQ SCAN" if p["seq_scan"] else "index"
        print(f"\n== {p['name']} ({p['route']}): {flag}, {p['rows_scanned']:,} rows "
              f"from the largest scan, {p['execution']}")
        print("\n".join(p["plan"]))
    return 1 if any(p["seq_scan"] for p in result["plans"]) else 0


if __name__ == "__main__":
    sys.exit(main())
