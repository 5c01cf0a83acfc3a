"""The bench database: created fresh, migrated, a merchant and key made with the CLI,
template objects made through the API, and pools / filler cloned from the templates
with SQL (generate_series) so that every row is exactly what the API writes.

Cloned ids are deterministic so that wrk request files and pgbench scripts can name
them: <prefix><12 hex stamp><4 hex pool tag><12 hex n>, the shape of a real id
(prefix + 12 hex milliseconds + 16 random hex)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from common import Config, lit, log, psql, psql_value
from server import cli

CREATE_BODY: dict[str, Any] = {
    "amount": "1000.00",
    "currency": "USDC",
    "type": "DELIVERY_VS_PAYMENT",
    "settlementMethod": "OFF_RAMP_MOCK",
    "settlementDestination": "acct_bench_0001",
    "description": "bench order",
    "autoRelease": True,
    "metadata": {"releaseType": "MILESTONE_LOCKED", "orderRef": "bench-0001"},
}
CARD = {"card": {"cardNumber": "4242424242424242", "expiry": "12/39", "cvv": "123", "name": "B"}}
MILESTONE_AMOUNT = "10.00"
COMPLETE_BODY = {"completedBy": "bench"}

PREFIX = {"intent": "intent_", "order": "conditional_payment_", "milestone": "milestone_"}
TAG_FILLER_OTHER = "f0f0"
TAG_FILLER_BENCH = "f0f1"
TAG_MS_POOL = "a0a0"
TAG_PGB_COMPLETE = "b0b0"


@dataclass
class State:
    merchant: str = ""
    other_merchant: str = ""
    key: str = ""
    key_hash: str = ""
    stamp: str = ""
    tpl_plain: dict[str, str] = field(default_factory=dict)   # intent, order
    tpl_funded: dict[str, str] = field(default_factory=dict)  # intent, order, milestone
    filler: dict[str, int] = field(default_factory=lambda: {TAG_FILLER_OTHER: 0,
                                                            TAG_FILLER_BENCH: 0})
    ms_pool: int = 0
    pgb_complete: int = 0
    next_tag: int = 0
    columns: dict[str, list[str]] = field(default_factory=dict)

    def pool_id(self, kind: str, tag: str, n: int) -> str:
        return f"{PREFIX[kind]}{self.stamp}{tag}{n:012x}"

    def pool_sql(self, kind: str, tag: str, n_sql: str) -> str:
        """SQL expression for the id of item n (n_sql: an integer SQL expression)."""
        return f"('{PREFIX[kind]}{self.stamp}{tag}' || lpad(to_hex(({n_sql})::bigint), 12, '0'))"

    def new_tag(self, letter: str) -> str:
        self.next_tag += 1
        return f"{letter}{self.next_tag:03x}"


def create_database(cfg: Config) -> None:
    psql(cfg, f"DROP DATABASE IF EXISTS {cfg.db} WITH (FORCE)", db="postgres")
    psql(cfg, f"CREATE DATABASE {cfg.db}", db="postgres")
    cli(cfg, "migrate")


def create_merchants(cfg: Config, st: State) -> None:
    import hashlib

    st.merchant = cli(cfg, "merchants", "create", "--name", "Bench Merchant").splitlines()[-1]
    st.other_merchant = cli(cfg, "merchants", "create",
                            "--name", "Other Merchant").splitlines()[-1]
    st.key = cli(cfg, "keys", "create",
                 "--merchant", st.merchant, "--mode", "test").splitlines()[-1]
    st.key_hash = hashlib.sha256(st.key.encode()).hexdigest()
    st.stamp = f"{int(time.time() * 1000):012x}"
    for table in ("payment_intents", "conditional_payments", "milestones", "ledger_entries"):
        st.columns[table] = [r[0] for r in psql(cfg, (
            "SELECT column_name FROM information_schema.columns WHERE table_schema='public' "
            f"AND table_name={lit(table)} ORDER BY ordinal_position"))]


class Api:
    def __init__(self, cfg: Config, st: State) -> None:
        self.client = httpx.Client(base_url=cfg.base_url + "/v1", timeout=30,
                                   headers={"X-API-Key": st.key})

    def call(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        r = self.client.request(method, path, json=body)
        if r.status_code != expect:
            raise RuntimeError(f"{method} {path} -> {r.status_code}: {r.text[:500]}")
        return r.json()

    def create_intent(self) -> str:
        return str(self.call("POST", "/payment-intents", CREATE_BODY, 201)["id"])

    def order_of(self, intent: str) -> str:
        return str(self.call("GET", f"/payment-intents/{intent}/escrow")["id"])

    def add_milestone(self, intent: str, index: int, amount: str) -> str:
        body = {"milestoneIndex": index, "description": "bench milestone", "amount": amount}
        return str(self.call("POST", f"/payment-intents/{intent}/escrow/milestones",
                             body, 201)["id"])

    def pay(self, intent: str) -> None:
        self.call("POST", f"/payment-intents/public/{intent}/payment", CARD, 200)

    def complete(self, intent: str, milestone: str) -> None:
        self.call("POST", f"/payment-intents/{intent}/escrow/milestones/{milestone}/complete",
                  COMPLETE_BODY, 200)

    def get(self, intent: str) -> None:
        self.call("GET", f"/payment-intents/{intent}")


def make_templates(cfg: Config, st: State) -> None:
    api = Api(cfg, st)
    intent = api.create_intent()
    st.tpl_plain = {"intent": intent, "order": api.order_of(intent)}
    intent = api.create_intent()
    order = api.order_of(intent)
    milestone = api.add_milestone(intent, 0, CREATE_BODY["amount"])
    api.pay(intent)
    st.tpl_funded = {"intent": intent, "order": order, "milestone": milestone}
    # One full life cycle so that every statement has run once on this server.
    warm = api.create_intent()
    m = api.add_milestone(warm, 0, CREATE_BODY["amount"])
    api.pay(warm)
    api.complete(warm, m)
    api.get(warm)
    log(f"templates: plain {st.tpl_plain['intent']}, funded {st.tpl_funded['intent']}")


def _template_row(cfg: Config, table: str, where: str, columns: list[str]) -> list[dict[str, str]]:
    rows = psql(cfg, f"SELECT {', '.join(f'({c})::text' for c in columns)} FROM {table} "
                     f"WHERE {where} ORDER BY 1")
    return [dict(zip(columns, r, strict=True)) for r in rows]


def _clone(cfg: Config, st: State, table: str, where: str, tag: str, lo: int, hi: int,
           id_map: dict[str, str], extra: dict[str, str] | None = None) -> None:
    """INSERT one clone of each template row per n in [lo, hi]. Every column whose
    template value is a template id becomes the clone's id (from id_map: value ->
    SQL expression of g.n); `extra` overrides columns outright."""
    columns = st.columns[table]
    templates = _template_row(cfg, table, where, columns)
    for leg, row in enumerate(templates):
        exprs = []
        for c in columns:
            if extra and c in extra:
                exprs.append(extra[c].replace("{leg}", str(leg)))
            elif row[c] in id_map:
                exprs.append(id_map[row[c]])
            else:
                exprs.append(f"t.{c}")
        psql(cfg, f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(exprs)} "
                  f"FROM {table} t CROSS JOIN generate_series({lo}, {hi}) AS g(n) "
                  f"WHERE t.id = {lit(row['id'])}")


def clone_plain(cfg: Config, st: State, tag: str, lo: int, hi: int,
                merchant: str | None = None) -> None:
    """Unfunded MILESTONE_LOCKED intents with their order (INITIATED, as created)."""
    tpl = st.tpl_plain
    id_map = {tpl["intent"]: st.pool_sql("intent", tag, "g.n"),
              tpl["order"]: st.pool_sql("order", tag, "g.n")}
    if merchant and merchant != st.merchant:
        id_map[st.merchant] = lit(merchant)
    _clone(cfg, st, "payment_intents", f"id = {lit(tpl['intent'])}", tag, lo, hi, id_map)
    _clone(cfg, st, "conditional_payments", f"id = {lit(tpl['order'])}", tag, lo, hi, id_map)


def clone_funded(cfg: Config, st: State, tag: str, lo: int, hi: int) -> None:
    """Funded intents (SUCCEEDED, order funded, ledger FUND legs) with one PENDING
    milestone covering the whole amount: completing it releases and settles everything."""
    tpl = st.tpl_funded
    id_map = {tpl["intent"]: st.pool_sql("intent", tag, "g.n"),
              tpl["order"]: st.pool_sql("order", tag, "g.n"),
              tpl["milestone"]: st.pool_sql("milestone", tag, "g.n")}
    _clone(cfg, st, "payment_intents", f"id = {lit(tpl['intent'])}", tag, lo, hi, id_map)
    _clone(cfg, st, "conditional_payments", f"id = {lit(tpl['order'])}", tag, lo, hi, id_map)
    _clone(cfg, st, "milestones", f"id = {lit(tpl['milestone'])}", tag, lo, hi, id_map)
    ledger_ids = {
        "id": f"('le_{st.stamp}{tag}' || '{{leg}}' || lpad(to_hex(g.n), 11, '0'))",
        "transaction_id": f"('ltx_{st.stamp}{tag}' || lpad(to_hex(g.n), 12, '0'))",
    }
    _clone(cfg, st, "ledger_entries", f"payment_intent_id = {lit(tpl['intent'])}", tag, lo, hi,
           id_map, ledger_ids)


def add_filler(cfg: Config, st: State, target_total: int) -> dict[str, Any]:
    """Bulk-insert plain intents (half the bench merchant's, half another merchant's)
    until payment_intents holds target_total rows."""
    have = int(psql_value(cfg, "SELECT count(*) FROM payment_intents"))
    # at least 2,000 so that GET has targets even when the pools alone exceed the target
    missing = max(0 if st.filler[TAG_FILLER_BENCH] else 2000, target_total - have)
    t0 = time.monotonic()
    batch = 250_000
    for tag, merchant, share in ((TAG_FILLER_BENCH, st.merchant, (missing + 1) // 2),
                                 (TAG_FILLER_OTHER, st.other_merchant, missing // 2)):
        done = 0
        while done < share:
            n = min(batch, share - done)
            lo = st.filler[tag] + 1
            clone_plain(cfg, st, tag, lo, lo + n - 1, merchant)
            st.filler[tag] += n
            done += n
            if missing > batch:
                log(f"  filler {tag}: {st.filler[tag]} rows")
    insert_s = time.monotonic() - t0
    t1 = time.monotonic()
    vacuum(cfg)
    return {"inserted": missing, "insert_seconds": round(insert_s, 1),
            "vacuum_analyze_seconds": round(time.monotonic() - t1, 1),
            "rate_rows_per_s": round(missing / insert_s) if insert_s > 0 and missing else None}


def vacuum(cfg: Config, tables: tuple[str, ...] = ("payment_intents", "conditional_payments",
                                                   "milestones", "ledger_entries", "events",
                                                   "settlements")) -> None:
    psql(cfg, "\n".join(f"VACUUM (ANALYZE) {t};" for t in tables))


def reset_ms_pool(cfg: Config, st: State) -> None:
    """Forget the milestones added to the milestone pool's orders (the bench's own
    rows), so each point starts with empty orders."""
    lo = st.pool_id("order", TAG_MS_POOL, 0)
    hi = st.pool_id("order", TAG_MS_POOL, st.ms_pool + 1)
    psql(cfg, f"""
        DELETE FROM milestones WHERE conditional_payment_id BETWEEN {lit(lo)} AND {lit(hi)};
        UPDATE conditional_payments SET milestone_total = 0, milestone_count = 0
         WHERE id BETWEEN {lit(lo)} AND {lit(hi)} AND milestone_count <> 0;
        VACUUM milestones;
        VACUUM conditional_payments;""")


def counts(cfg: Config) -> dict[str, int]:
    rows = psql(cfg, """SELECT 'payment_intents', count(*) FROM payment_intents
        UNION ALL SELECT 'conditional_payments', count(*) FROM conditional_payments
        UNION ALL SELECT 'milestones', count(*) FROM milestones
        UNION ALL SELECT 'ledger_entries', count(*) FROM ledger_entries
        UNION ALL SELECT 'events', count(*) FROM events
        UNION ALL SELECT 'settlements', count(*) FROM settlements""")
    return {r[0]: int(r[1]) for r in rows}


def table_sizes(cfg: Config) -> dict[str, str]:
    rows = psql(cfg, """SELECT relname, pg_size_pretty(pg_total_relation_size(oid))
        FROM pg_class WHERE relname IN ('payment_intents','conditional_payments','milestones',
        'ledger_entries','events','settlements') ORDER BY relname""")
    return {r[0]: r[1] for r in rows}


def check_pool(cfg: Config, st: State, kind: str, tag: str, table: str, ns: list[int]) -> None:
    ids = ", ".join(lit(st.pool_id(kind, tag, n)) for n in ns)
    found = int(psql_value(cfg, f"SELECT count(*) FROM {table} WHERE id IN ({ids})"))
    if found != len(ns):
        raise RuntimeError(f"pool {tag} ({kind}) is missing rows: {found}/{len(ns)}")


def dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))
