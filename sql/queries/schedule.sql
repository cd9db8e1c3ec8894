-- The schedule of planned-work messages and surveys (outage_schedule): the leader's tick
-- turns due rows into campaigns.

-- name: schedule_due
-- Rows due, earliest first, held until the tick's transaction ends; rows another tick holds
-- are skipped, not waited for.
SELECT s.id, s.outage_id, o.oms_id, s.message, s.generation, s.audience, s.premises,
       s.feeders, s.due_at, s.window_open, s.window_close, s.details
FROM outage_schedule s
JOIN outages o ON o.id = s.outage_id
WHERE s.state = 'pending' AND s.due_at <= $1
ORDER BY s.due_at, s.id
LIMIT $2
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
