-- create_milestone, the least SQL: POST /v1/payment-intents/{id}/escrow/milestones.
-- Hand-written yardstick; see bench/README.md.
-- expect: payment_intents upd 1; conditional_payments upd 1; milestones ins 1; events ins 1
-- Variables: key_hash, merchant, mode, idms, now, ms_intent / ms_order (id prefixes of the
-- milestone pool: item n is prefix || 12 hex of n), p_milestone (the event's JSON payload);
-- each client fills its own orders round-robin: -D k=0 -D nc=<clients> -D slots=<pool>/<clients>
\set j :k % :slots
\set idx :k / :slots
\set n 1 + :client_id + :nc * :j
\set k :k + 1
\set r1 random(1, 4611686018427387903)
\set r2 random(1, 4611686018427387903)
SELECT merchant_id, mode, kind, revoked_at FROM api_keys WHERE key_hash = :key_hash;
-- one unlocked statement reads what the rules need (status, amounts, the milestone
-- totals kept on the order: no milestone query) and the intent's version (the app's
-- optimistic write: db/optimistic.py)
SELECT pi.status AS pi_status, pi.version AS version, cp.id AS order_id,
       cp.amount AS order_amount, cp.funded_amount, cp.milestone_total, cp.milestone_count,
       cp.order_status
  FROM payment_intents pi JOIN conditional_payments cp ON cp.payment_intent_id = pi.id
 WHERE pi.id = :ms_intent || lpad(to_hex(:n::bigint), 12, '0') AND pi.merchant_id = :merchant
   AND pi.mode = :mode \gset
-- the three writes in one statement, its own transaction, led by the guard: the intent's
-- version moves only where it is the one read, else the main query fails the statement
-- (a repeated index is refused by the unique constraint (conditional_payment_id,
-- milestone_index))
WITH g AS (
UPDATE payment_intents SET version = version + 1
 WHERE id = :ms_intent || lpad(to_hex(:n::bigint), 12, '0') AND version = :version
 RETURNING 1),
w0 AS (
UPDATE conditional_payments SET milestone_total = :milestone_total::bigint + 10000000,
       milestone_count = :milestone_count::int + 1, updated_at = :now
 WHERE id = :order_id),
w1 AS (
INSERT INTO milestones (id, conditional_payment_id, payment_intent_id, merchant_id,
    milestone_index, description, amount, percentage_bp, status, added_after_funding,
    created_at, updated_at)
  VALUES ('milestone_' || :idms || lpad(to_hex(:r1::bigint), 32, '0'), :order_id,
    :ms_intent || lpad(to_hex(:n::bigint), 12, '0'), :merchant, :idx, 'bench milestone', 10000000,
    100, 'PENDING', false, :now, :now)),
w2 AS (
INSERT INTO events (id, merchant_id, mode, type, object_id, payload, created_at)
  VALUES ('evt_' || :idms || lpad(to_hex(:r2::bigint), 32, '0'), :merchant, :mode, 'milestone.created',
          'milestone_' || :idms || lpad(to_hex(:r1::bigint), 32, '0'), :p_milestone::json, :now))
SELECT escrowgate_guard(count(*)) FROM g;
