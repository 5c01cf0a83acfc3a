-- get_intent, the least SQL: GET /v1/payment-intents/{id}. Hand-written yardstick; see
-- bench/README.md.
-- expect: (reads only)
-- Variables: key_hash, merchant, mode, g_intent (id prefix of the merchant's filler intents),
-- pool (how many).
\set n random(1, :pool)
SELECT merchant_id, mode, kind, revoked_at FROM api_keys WHERE key_hash = :key_hash;
SELECT id, merchant_id, mode, status, type, amount, currency, description, settlement_method,
       settlement_destination, settlement_status, metadata, phases, transaction_hash,
       signature, signer_address, funding, last_payment_error, created_at, updated_at
  FROM payment_intents
 WHERE id = :g_intent || lpad(to_hex(:n::bigint), 12, '0') AND merchant_id = :merchant
   AND mode = :mode;
