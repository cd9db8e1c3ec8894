-- The schedule of planned-work messages and surveys (outage_schedule): the leader's tick
-- turns due rows into campaigns.

-- name: schedule_due
-- Rows due, earliest first, not held (each is taken in its own transaction); those the tick
-- has passed over already ($3) left out.
SELECT s.id, s.outage_id, o.oms_id, s.message, s.generation, s.audience, s.premises,
       s.feeders, s.due_at, s.window_open, s.window_close, s.details
FROM outage_schedule s
JOIN outages o ON o.id = s.outage_id
WHERE s.state = 'pending' AND s.due_at <= $1 AND NOT (s.id = ANY($3::bigint[]))
ORDER BY s.due_at, s.id
LIMIT $2;

-- name: schedule_outage_try_lock
-- The outage's schedule lock ($1: its class, $2: the outage), held until the transaction
-- ends; false when another tick or the automation worker deciding on the outage holds it.
SELECT pg_try_advisory_xact_lock($1, ($2::bigint % 2147483647)::integer);

-- name: schedule_outage_lock
-- The same lock, waited for (the automation worker deciding on the outage's planned work).
SELECT pg_advisory_xact_lock($1, ($2::bigint % 2147483647)::integer);

-- name: schedule_take
-- One row, still pending, held until the transaction ends.
SELECT s.id, s.outage_id, o.oms_id, s.message, s.generation, s.audience, s.premises,
       s.feeders, s.due_at, s.window_open, s.window_close, s.details
FROM outage_schedule s
JOIN outages o ON o.id = s.outage_id
WHERE s.id = $1 AND s.state = 'pending'
FOR UPDATE OF s SKIP LOCKED;

-- name: schedule_decide
-- The row made (with its campaign) or expired, and the decision in the outage's ledger
-- (named by the event that scheduled it).
WITH decided AS (
    UPDATE outage_schedule SET state = $2, campaign_id = $3, reason = $4, decided_at = $5
    WHERE id = $1 AND state = 'pending'
    RETURNING outage_id, generation
)
INSERT INTO automation_decisions (outage_id, event_id, at, event, decision, reason, campaign_id)
SELECT d.outage_id, d.generation, $5, $6, $7, $8, $3 FROM decided d;

-- name: schedule_expire_campaigns
-- Pending calls of campaigns past their end excluded as expired: the dialer, which claims
-- nothing from them any more, then completes them.
UPDATE campaign_targets t SET state = 'excluded', outcome = 'expired', updated_at = $1
FROM campaigns c
WHERE c.expires_at IS NOT NULL AND c.expires_at <= $1 AND c.state IN ('running', 'paused')
  AND t.campaign_id = c.id AND t.state = 'pending';
