-- create_intent, the least SQL: POST /v1/payment-intents (DELIVERY_VS_PAYMENT,
-- MILESTONE_LOCKED, autoRelease). Hand-written yardstick; see bench/README.md.
-- expect: payment_intents ins 1; conditional_payments ins 1; events ins 2
-- Variables (bench/harness.py passes them with -D): key_hash, merchant, mode, idms (12 hex
-- of milliseconds for fresh ids), now (epoch s), metadata, phases (JSON as the app writes
-- them), p_intent, p_order (the two events' JSON payloads, captured from the app).
\set r1 random(1, 4611686018427387903)
\set r2 random(1, 4611686018427387903)
\set r3 random(1, 4611686018427387903)
\set r4 random(1, 4611686018427387903)
SELECT merchant_id, mode, kind, revoked_at FROM api_keys WHERE key_hash = :key_hash;
-- the three writes as one statement, which is its own transaction (a single statement
-- is atomic): no BEGIN, no COMMIT round trip, as the app sends them
WITH w0 AS (
INSERT INTO payment_intents (id, merchant_id, mode, status, type, amount, currency, description,
    settlement_method, settlement_destination, settlement_status, metadata, phases,
    created_at, updated_at)
  VALUES ('intent_' || :idms || lpad(to_hex(:r1::bigint), 32, '0'), :merchant, :mode, 'INITIATED',
    'DELIVERY_VS_PAYMENT', 1000000000, 'USDC', 'bench order', 'OFF_RAMP_MOCK',
    'acct_bench_0001', 'PENDING', :metadata::json, :phases::json, :now, :now)),
w1 AS (
INSERT INTO conditional_payments (id, payment_intent_id, merchant_id, mode, currency, amount,
    funded_amount, released_amount, refunded_amount, settled_amount, milestone_total,
    milestone_count, release_type, auto_release, dispute_window, delivery_period,
    order_status, settlement_status, clock_offset, created_at, updated_at)
  VALUES ('conditional_payment_' || :idms || lpad(to_hex(:r2::bigint), 32, '0'),
    'intent_' || :idms || lpad(to_hex(:r1::bigint), 32, '0'), :merchant, :mode, 'USDC', 1000000000,
    0, 0, 0, 0, 0, 0, 'MILESTONE_LOCKED', true, 604800, 2592000, 'PENDING', 'NONE', 0,
    :now, :now)),
w2 AS (
INSERT INTO events (id, merchant_id, mode, type, object_id, payload, created_at)
  VALUES ('evt_' || :idms || lpad(to_hex(:r3::bigint), 32, '0'), :merchant, :mode,
          'payment_intent.created', 'intent_' || :idms || lpad(to_hex(:r1::bigint), 32, '0'),
          :p_intent::json, :now),
         ('evt_' || :idms || lpad(to_hex(:r4::bigint), 32, '0'), :merchant, :mode,
          'escrow_order.created', 'conditional_payment_' || :idms || lpad(to_hex(:r2::bigint), 32, '0'),
          :p_order::json, :now))
SELECT 1;
