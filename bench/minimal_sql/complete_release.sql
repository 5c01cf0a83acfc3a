-- complete_release, the least SQL: POST /v1/payment-intents/{id}/escrow/milestones/{mid}/complete
-- on a funded order with autoRelease (complete, release, ledger, settlement, events).
-- Hand-written yardstick; see bench/README.md.
-- expect: conditional_payments upd 1; milestones upd 1; payment_intents upd 1; settlements ins 1; ledger_entries ins 4; events ins 5
-- Variables: key_hash, merchant, mode, idms, now, c_intent / c_order / c_milestone (id prefixes
-- of the funded pool), pool, phases (the intent's phases JSON after the release), e1..e5
-- (the five events' JSON payloads, captured from the app).
\set n random(1, :pool)
\set r1 random(1, 4611686018427387903)
\set r2 random(1, 4611686018427387903)
\set r3 random(1, 4611686018427387903)
\set r4 random(1, 4611686018427387903)
\set r5 random(1, 4611686018427387903)
\set r6 random(1, 4611686018427387903)
\set r7 random(1, 4611686018427387903)
\set r8 random(1, 4611686018427387903)
\set r9 random(1, 4611686018427387903)
\set r10 random(1, 4611686018427387903)
\set r11 random(1, 4611686018427387903)
\set r12 random(1, 4611686018427387903)
\set r13 random(1, 4611686018427387903)
\set r14 random(1, 4611686018427387903)
SELECT merchant_id, mode, kind, revoked_at FROM api_keys WHERE key_hash = :key_hash;
-- one unlocked statement reads what the rules need (milestone status and amount, the
-- order's amounts; totals kept on the order) and the intent's version (the app's
-- optimistic write: db/optimistic.py)
SELECT pi.id AS intent_id, pi.version AS version, cp.id AS order_id, m.id AS milestone_id,
       m.amount AS amt, m.status AS ms_status, cp.funded_amount, cp.released_amount,
       cp.milestone_total, cp.order_status, pi.status AS pi_status, pi.phases AS old_phases
  FROM payment_intents pi
  JOIN conditional_payments cp ON cp.payment_intent_id = pi.id
  JOIN milestones m ON m.conditional_payment_id = cp.id
 WHERE pi.id = :c_intent || lpad(to_hex(:n::bigint), 12, '0') AND pi.merchant_id = :merchant
   AND pi.mode = :mode AND m.id = :c_milestone || lpad(to_hex(:n::bigint), 12, '0') \gset
-- every write in one statement, its own transaction: the three updates (the intent's
-- guarded by the version read; the main query fails the statement when it matched no
-- row: pgbench --max-tries runs the script again, as the app runs the request again),
-- the settlement, the two balanced ledger transactions (release, settle: four legs) and
-- the five events with payloads
WITH w0 AS (
UPDATE milestones SET status = 'RELEASED', completed_at = :now, completed_by = 'bench',
       released_at = :now, released_by = 'auto_release',
       release_tx_hash = '0x' || lpad(to_hex(:r1::bigint), 64, '0'), updated_at = :now
 WHERE id = :milestone_id),
w1 AS (
UPDATE conditional_payments SET released_amount = :amt, settled_amount = :amt,
       order_status = 'COMPLETED', settlement_status = 'CONFIRMED', released_at = :now,
       updated_at = :now
 WHERE id = :order_id),
w2 AS (
UPDATE payment_intents SET status = 'SETTLED', settlement_status = 'COMPLETED',
       phases = :phases::json, updated_at = :now, version = version + 1
 WHERE id = :intent_id AND version = :version RETURNING 1),
w3 AS (
INSERT INTO settlements (id, payment_intent_id, conditional_payment_id, milestone_id,
    merchant_id, mode, amount, currency, method, destination, status, external_tx_id,
    created_at, completed_at)
  VALUES ('settlement_' || :idms || lpad(to_hex(:r2::bigint), 32, '0'), :intent_id, :order_id,
    :milestone_id, :merchant, :mode, :amt, 'USDC', 'OFF_RAMP_MOCK', 'acct_bench_0001',
    'COMPLETED', 'OFFRAMP_MOCK-' || to_hex(:r3::bigint), :now, :now)),
w4 AS (
INSERT INTO ledger_entries (id, transaction_id, merchant_id, mode, currency, account, amount,
    kind, payment_intent_id, conditional_payment_id, reference_id, created_at)
  VALUES ('le_' || :idms || lpad(to_hex(:r4::bigint), 32, '0'), 'ltx_' || :idms || lpad(to_hex(:r8::bigint), 32, '0'),
          :merchant, :mode, 'USDC', 'merchant_pending', :amt, 'RELEASE', :intent_id, :order_id,
          :milestone_id, :now),
         ('le_' || :idms || lpad(to_hex(:r5::bigint), 32, '0'), 'ltx_' || :idms || lpad(to_hex(:r8::bigint), 32, '0'),
          :merchant, :mode, 'USDC', 'escrow', -(:amt::bigint), 'RELEASE', :intent_id, :order_id,
          :milestone_id, :now),
         ('le_' || :idms || lpad(to_hex(:r6::bigint), 32, '0'), 'ltx_' || :idms || lpad(to_hex(:r9::bigint), 32, '0'),
          :merchant, :mode, 'USDC', 'merchant_settled', :amt, 'SETTLE', :intent_id, :order_id,
          'settlement_' || :idms || lpad(to_hex(:r2::bigint), 32, '0'), :now),
         ('le_' || :idms || lpad(to_hex(:r7::bigint), 32, '0'), 'ltx_' || :idms || lpad(to_hex(:r9::bigint), 32, '0'),
          :merchant, :mode, 'USDC', 'merchant_pending', -(:amt::bigint), 'SETTLE', :intent_id, :order_id,
          'settlement_' || :idms || lpad(to_hex(:r2::bigint), 32, '0'), :now)),
w5 AS (
INSERT INTO events (id, merchant_id, mode, type, object_id, payload, created_at)
  VALUES ('evt_' || :idms || lpad(to_hex(:r10::bigint), 32, '0'), :merchant, :mode, 'milestone.completed',
          :milestone_id, :e1::json, :now),
         ('evt_' || :idms || lpad(to_hex(:r11::bigint), 32, '0'), :merchant, :mode, 'milestone.released',
          :milestone_id, :e2::json, :now),
         ('evt_' || :idms || lpad(to_hex(:r12::bigint), 32, '0'), :merchant, :mode,
          'payment_intent.settlement_initiated', :intent_id, :e3::json, :now),
         ('evt_' || :idms || lpad(to_hex(:r13::bigint), 32, '0'), :merchant, :mode,
          'payment_intent.settlement_completed', :intent_id, :e4::json, :now),
         ('evt_' || :idms || lpad(to_hex(:r14::bigint), 32, '0'), :merchant, :mode,
          'payment_intent.status_changed', :intent_id, :e5::json, :now))
SELECT escrowgate_guard(count(*)) FROM w2;
