-- The automation's own rows: the outbox read side, the per-outage state, the supervisor's
-- rules, the decisions, and the notification ledger read from automatic campaigns.

-- name: automation_rules_get
SELECT rules FROM automation_rules WHERE id = 1;

-- name: automation_rules_save
INSERT INTO automation_rules (id, rules, updated_at, updated_by) VALUES (1, $1, $2, $3)
ON CONFLICT (id) DO UPDATE
SET rules = EXCLUDED.rules, updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by;

-- name: automation_events_waiting
-- Oldest first. An event of another outage that committed after a later-numbered one is
-- still found: nothing but consumed_at takes an event off this list.
SELECT e.id, e.outage_id, o.oms_id, e.at, e.change
FROM outage_events e
JOIN outages o ON o.id = e.outage_id
WHERE e.consumed_at IS NULL
ORDER BY e.id
LIMIT $1;

-- name: automation_states_get
SELECT outage_id, state FROM outage_automation WHERE outage_id = ANY($1::bigint[]);

-- name: automation_outage_facts
SELECT status, etr, planned FROM outages WHERE id = $1;

-- name: automation_outage_oms_id
SELECT oms_id FROM outages WHERE id = $1;

-- name: automation_consume
-- One statement, so one transaction in one round trip: the event marked consumed ($1; NULL
-- for due work, which has no event), the outage's new state, its decisions. Exactly once in
-- effect: a second consumer waits on the event's row lock, then finds it consumed and
-- writes nothing. A decision that names no event belongs to the event consumed.
WITH consumed AS (
    UPDATE outage_events SET consumed_at = $3
    WHERE id = $1 AND outage_id = $2 AND consumed_at IS NULL
    RETURNING id
), go AS (
    SELECT $1::bigint IS NULL OR EXISTS (SELECT FROM consumed) AS ok
), saved AS (
    INSERT INTO outage_automation (outage_id, state, due_at, updated_at)
    SELECT $2, $4, $5, $3 FROM go WHERE go.ok
    ON CONFLICT (outage_id) DO UPDATE
    SET state = EXCLUDED.state, due_at = EXCLUDED.due_at, updated_at = EXCLUDED.updated_at
), decided AS (
    INSERT INTO automation_decisions (outage_id, event_id, at, event, decision, reason,
                                      campaign_id)
    SELECT $2, coalesce(d.event_id, $1), d.at, d.event, d.decision, d.reason, d.campaign_id
    FROM unnest($6::bigint[], $7::timestamptz[], $8::text[], $9::text[], $10::text[],
                $11::bigint[]) WITH ORDINALITY AS d(event_id, at, event, decision, reason,
                                                    campaign_id, n)
    WHERE (SELECT ok FROM go)
    ORDER BY d.n
)
SELECT ok FROM go;

-- name: automation_due_outages
SELECT outage_id FROM outage_automation
WHERE due_at IS NOT NULL AND due_at <= $1
ORDER BY due_at, outage_id
LIMIT $2;

-- name: automation_next_due
SELECT min(due_at) FROM outage_automation WHERE due_at IS NOT NULL;

-- name: automation_ledger_outage
SELECT id FROM outages WHERE oms_id = $1;

-- name: automation_ledger_counts
-- Per trigger, and for excluded targets per reason: a campaign with no targets yet still
-- shows its trigger, with nothing counted.
SELECT coalesce(c.trigger_event, c.kind) AS trigger,
       CASE WHEN t.state = 'excluded' THEN coalesce(t.outcome, 'excluded') END AS skipped,
       count(t.id) FILTER (WHERE t.attempts > 0) AS sent,
       count(t.id) FILTER (
           WHERE t.attempts > 0
             AND t.outcome IN ('reached', 'voicemail', 'still_out', 'opted_out')
       ) AS reached,
       count(t.id) FILTER (WHERE t.state IN ('pending', 'calling') AND t.attempts = 0) AS pending,
       count(t.id) FILTER (WHERE t.state = 'excluded') AS excluded
FROM campaigns c
LEFT JOIN campaign_targets t ON t.campaign_id = c.id
WHERE c.outage_id = $1 AND c.automatic
GROUP BY 1, 2;

-- name: automation_ledger_campaigns
SELECT id FROM campaigns WHERE outage_id = $1 AND automatic ORDER BY id;

-- name: automation_ledger_decisions
SELECT at, event_id, event, decision, reason, campaign_id
FROM automation_decisions
WHERE outage_id = $1
ORDER BY id;

-- name: automation_ledger_lines
-- One account's numbers, call by call, across the outage's automatic campaigns.
SELECT coalesce(c.trigger_event, c.kind) AS trigger, t.campaign_id, t.phone,
       t.account_numbers, t.state, t.outcome, t.attempts, t.heard_at, t.heard_etr,
       (SELECT max(a.placed_at) FROM call_attempts a
         WHERE a.campaign_id = t.campaign_id AND a.target_id = t.id) AS last_call_at
FROM campaigns c
JOIN campaign_targets t ON t.campaign_id = c.id
WHERE c.outage_id = $1 AND c.automatic AND $2 = ANY (t.account_numbers)
ORDER BY t.campaign_id, t.id;

-- name: automation_planned_sent
-- The planned-work messages of the outage whose campaigns have been made.
SELECT DISTINCT message FROM outage_schedule WHERE outage_id = $1 AND state = 'made';

-- name: automation_planned_told
-- The telling messages' triggers ($2) with a call placed about the outage: the rule of
-- auto_fill_told_planned, so that "told" here and the TOLD audience never disagree (a
-- campaign made but not calling yet has told nobody).
SELECT DISTINCT oc.trigger_event FROM campaigns oc
WHERE oc.outage_id = $1 AND oc.automatic AND oc.trigger_event = ANY($2::text[])
  AND EXISTS (SELECT FROM campaign_targets t WHERE t.campaign_id = oc.id AND t.attempts > 0);

-- name: automation_schedule_withdraw
-- Rows of these messages ($2) not made yet taken back, with the reason ($3).
UPDATE outage_schedule SET state = 'withdrawn', reason = $3, decided_at = $4
WHERE outage_id = $1 AND state = 'pending' AND message = ANY($2::text[]);

-- name: automation_schedule_alternate
-- A new bad-weather date, spoken by the planned-work messages not made yet.
UPDATE outage_schedule
SET details = details || jsonb_build_object('alternate_starts_at', $2::text)
WHERE outage_id = $1 AND state = 'pending' AND message <> 'survey';

-- name: automation_schedule_add
-- Named by the event that scheduled them ($2): a replayed event adds nothing twice.
INSERT INTO outage_schedule (outage_id, message, generation, audience, premises, feeders,
                             due_at, window_open, window_close, details, created_at)
SELECT $1, r.message, $2, r.audience, r.premises, r.feeders, r.due_at, r.window_open,
       r.window_close, r.details, $3
FROM jsonb_to_recordset($4::jsonb) AS r(message text, audience text, premises text[],
                                         feeders text[], due_at timestamptz,
                                         window_open timestamptz, window_close timestamptz,
                                         details jsonb)
ON CONFLICT (outage_id, message, generation) DO NOTHING;
