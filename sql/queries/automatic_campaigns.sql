-- Campaigns the automation starts: planned in pieces (a first batch the dialer calls at once,
-- then the rest), appended to as an outage grows, withdrawn from as it ends or shrinks.
-- Every write of targets to one campaign holds its lock (campaign_plan_lock with the class of
-- adapters/db/automatic_campaigns.py) and commits before the next begins: the dialer claims
-- targets never tried by key from campaigns.fresh_after, so a later write's keys must all be
-- higher than an earlier one's.

-- name: auto_campaign_insert
-- The trigger's index makes a replayed event find its campaign: nothing is returned then.
-- $15 NULL (a preview's count) names no trigger and never conflicts.
INSERT INTO campaigns (name, kind, spec, outage_id, cps, max_concurrent, window_opens,
                       window_closes, urgent, priority, starts_at, created_by, created_at,
                       updated_at, state, started_at, automatic, trigger_event,
                       trigger_event_id, planning, automation_plan, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, 'running', $13, true,
        $14, $15, true, $16, $17)
ON CONFLICT (trigger_event_id, trigger_event) WHERE trigger_event_id IS NOT NULL DO NOTHING
RETURNING id;

-- name: auto_campaign_found
SELECT c.id, c.planning,
       (SELECT count(*) FROM campaign_targets t WHERE t.campaign_id = c.id) AS targets
FROM campaigns c WHERE c.trigger_event_id = $1 AND c.trigger_event = $2;

-- name: auto_campaign_state
SELECT planning, state FROM campaigns WHERE id = $1;

-- name: auto_campaign_planned
UPDATE campaigns SET planning = false, updated_at = $2 WHERE id = $1 AND planning;

-- name: auto_still_planning
SELECT id, spec, automation_plan FROM campaigns
WHERE planning AND automatic AND automation_plan IS NOT NULL
ORDER BY id;

-- name: auto_etr_planning
-- Earlier ETR updates of the outage whose plans may still be writing, locked (in key order,
-- like every holder of several) before their pending calls are superseded.
SELECT id FROM campaigns
WHERE outage_id = $1 AND automatic AND kind = 'etr_update' AND planning
ORDER BY id;

-- name: auto_stop_planning
UPDATE campaigns SET planning = false, updated_at = $2 WHERE id = ANY($1::bigint[]) AND planning;

-- name: auto_supersede
-- A new ETR update calls everyone the earlier ones have not reached yet, with the latest ETR.
-- $4: only the numbers in auto_candidates (a first batch's: superseding a million pending
-- calls would hold the first call back; the rest are superseded as the rest is written, and
-- those the earlier update calls meanwhile hear the latest ETR, which their call speaks).
UPDATE campaign_targets t SET state = 'excluded', outcome = 'superseded', updated_at = $3
FROM campaigns c
WHERE c.outage_id = $1 AND c.automatic AND c.kind = 'etr_update' AND c.id <> $2
  AND t.campaign_id = c.id AND t.state = 'pending'
  AND (NOT $4::boolean OR t.phone IN (SELECT a.phone FROM auto_candidates a));

-- name: auto_custom_plans
-- Every plan's statements are planned for its own outage and batch: a generic plan of a
-- prepared statement (chosen after a few runs) knows neither how many premises the first
-- batch takes nor how large the outage is, and one planned for a small outage could read a
-- large one's every target to write its first batch.
SET LOCAL plan_cache_mode = force_custom_plan;

-- name: auto_candidates_create
-- One row per phone number to consider, filled by one of the auto_fill_* statements and
-- written by auto_targets_write.
CREATE TEMPORARY TABLE auto_candidates (
    phone           text COLLATE "C" NOT NULL,
    account_numbers text[] NOT NULL,
    premise_ids     text[] NOT NULL,
    language        text NOT NULL,
    timezone        text NOT NULL
) ON COMMIT DROP;

-- name: auto_candidates_analyze
-- The write's joins are planned on how many candidates there are: a first batch probes the
-- outage's earlier targets for a few hundred numbers, the rest hashes a million.
ANALYZE auto_candidates;

-- name: auto_candidates_drop
DROP TABLE auto_candidates;

-- name: auto_fill_outage_first
-- The numbers at some $2 premises of the outage: whichever the indexes give first, never a
-- sort over the whole audience, so a million-customer outage starts calling at once. Each
-- number comes with every account it has on the outage (a household is one call).
-- `premises` below $2 means the whole outage was taken.
WITH some_premises AS (
    SELECT s.premise_id FROM (
        (SELECT op.premise_id FROM outage_premises op WHERE op.outage_id = $1 LIMIT $2)
        UNION ALL
        (SELECT p.premise_id FROM outage_feeders f
         JOIN premises p ON p.feeder_id = f.feeder_id
         WHERE f.outage_id = $1 LIMIT $2)
    ) s
    LIMIT $2
), first_phones AS (
    SELECT DISTINCT ap.e164 FROM some_premises s
    JOIN accounts a ON a.premise_id = s.premise_id
    JOIN account_phones ap ON ap.account_number = a.account_number
), filled AS (
    INSERT INTO auto_candidates (phone, account_numbers, premise_ids, language, timezone)
    SELECT ap.e164, array_agg(a.account_number), array_agg(a.premise_id), min(p.language),
           min(p.timezone)
    FROM first_phones fp
    JOIN account_phones ap ON ap.e164 = fp.e164
    JOIN accounts a ON a.account_number = ap.account_number
    JOIN premises p ON p.premise_id = a.premise_id
    WHERE EXISTS (SELECT FROM outage_premises op
                  WHERE op.outage_id = $1 AND op.premise_id = a.premise_id)
       OR EXISTS (SELECT FROM outage_feeders f
                  WHERE f.outage_id = $1 AND f.feeder_id = p.feeder_id)
    GROUP BY ap.e164
    RETURNING 1
)
SELECT (SELECT count(*) FROM some_premises) AS premises, (SELECT count(*) FROM filled) AS phones;

-- name: auto_fill_outage
-- Everyone on the outage, one row per number, as campaign_targets_build groups them (run
-- after campaign_build_memory). Numbers the campaign has already are left out by the write.
WITH chosen AS (
    SELECT a.account_number, a.premise_id, p.language, p.timezone FROM accounts a
    JOIN premises p ON p.premise_id = a.premise_id
    JOIN outage_premises op ON op.premise_id = a.premise_id
    WHERE op.outage_id = $1
    UNION
    SELECT a.account_number, a.premise_id, p.language, p.timezone FROM accounts a
    JOIN premises p ON p.premise_id = a.premise_id
    JOIN outage_feeders f ON f.feeder_id = p.feeder_id
    WHERE f.outage_id = $1
)
INSERT INTO auto_candidates (phone, account_numbers, premise_ids, language, timezone)
SELECT ap.e164, array_agg(c.account_number), array_agg(c.premise_id), min(c.language),
       min(c.timezone)
FROM chosen c JOIN account_phones ap ON ap.account_number = c.account_number
GROUP BY ap.e164;

-- name: auto_fill_premises
-- The numbers at these premises ($1) or on these feeders ($2), with their accounts there.
WITH chosen AS (
    SELECT a.account_number, a.premise_id, p.language, p.timezone FROM accounts a
    JOIN premises p ON p.premise_id = a.premise_id
    WHERE a.premise_id = ANY($1::text[])
    UNION
    SELECT a.account_number, a.premise_id, p.language, p.timezone FROM accounts a
    JOIN premises p ON p.premise_id = a.premise_id
    WHERE p.feeder_id = ANY($2::text[])
)
INSERT INTO auto_candidates (phone, account_numbers, premise_ids, language, timezone)
SELECT ap.e164, array_agg(c.account_number), array_agg(c.premise_id), min(c.language),
       min(c.timezone)
FROM chosen c JOIN account_phones ap ON ap.account_number = c.account_number
GROUP BY ap.e164;

-- name: auto_fill_told
-- The all-clear also goes to numbers told about the outage whose premises it no longer
-- names (the OMS may empty it on restoration): as their latest target of it had them.
INSERT INTO auto_candidates (phone, account_numbers, premise_ids, language, timezone)
SELECT DISTINCT ON (t.phone) t.phone, t.account_numbers, t.premise_ids, t.language, t.timezone
FROM campaigns oc
JOIN campaign_targets t ON t.campaign_id = oc.id
WHERE oc.outage_id = $1 AND oc.automatic AND oc.id <> $2
  AND NOT EXISTS (SELECT FROM auto_candidates c WHERE c.phone = t.phone)
ORDER BY t.phone, t.id DESC;

-- name: auto_fill_told_planned
-- Planned work's move or cancellation is for the numbers its telling messages ($2, their
-- triggers) were placed to: as their latest such target had them.
INSERT INTO auto_candidates (phone, account_numbers, premise_ids, language, timezone)
SELECT DISTINCT ON (t.phone) t.phone, t.account_numbers, t.premise_ids, t.language, t.timezone
FROM campaigns oc
JOIN campaign_targets t ON t.campaign_id = oc.id
WHERE oc.outage_id = $1 AND oc.automatic AND oc.trigger_event = ANY($2::text[])
  AND t.attempts > 0
ORDER BY t.phone, t.id DESC;

-- name: auto_drop_told_planned
-- Planned work's new-date notice after a move is for those its telling messages ($2, their
-- triggers) were not placed to: the same rule as auto_fill_told_planned, the other way.
DELETE FROM auto_candidates c
WHERE EXISTS (
    SELECT FROM campaigns oc JOIN campaign_targets t ON t.campaign_id = oc.id
    WHERE oc.outage_id = $1 AND oc.automatic AND oc.trigger_event = ANY($2::text[])
      AND t.attempts > 0 AND t.phone = c.phone);

-- name: auto_keep_told
-- A partial all-clear is for numbers that were called about the outage.
DELETE FROM auto_candidates c
WHERE NOT EXISTS (
    SELECT FROM campaigns oc JOIN campaign_targets t ON t.campaign_id = oc.id
    WHERE oc.outage_id = $1 AND oc.automatic AND oc.id <> $2
      AND t.phone = c.phone AND t.attempts > 0);

-- name: auto_targets_write
-- The candidates the campaign ($1) does not have yet, written as its targets: to call, or
-- excluded with the reason (first that applies). $2: the outage; $3: now.
-- $4 (acknowledgements): numbers that called the outage line, or reported this outage, since.
-- $5 (ETR updates): a call of the outage still to make will speak the latest ETR anyway
-- (call_pending); the last call heard spoke an ETR within $7 s of this one, $6
-- (already_heard); a number given an ETR update less than $8 s ago waits for the rest of the
-- gap (a due time; a call of it still being placed counts from its claim). $9 (all-clears):
-- numbers never told (no call of the outage made to them, nor did they call us about it:
-- recent_caller), cleared already (or about to be) since the outage was last acknowledged (a
-- reopened outage is cleared again), or with a premise on another active outage ($10: or
-- still on this one, for a partial all-clear, the premises $11 and feeders $12 it is about
-- aside: a preview counts it before the OMS's change takes them off).
-- Every lookup joins the candidates, so a first batch reads the outage's earlier targets
-- once for a few hundred numbers (no index by number: see 0006).
WITH candidates AS (
    SELECT c.* FROM auto_candidates c
    WHERE NOT EXISTS (SELECT FROM campaign_targets t
                      WHERE t.campaign_id = $1 AND t.phone = c.phone)
), flagged_phones AS (
    SELECT ph.e164, ph.opted_out_at, ph.invalid_at FROM phones ph
    WHERE ph.opted_out_at IS NOT NULL OR ph.invalid_at IS NOT NULL
), recent AS (
    SELECT i.caller AS phone FROM inbound_calls i
    WHERE $4::timestamptz IS NOT NULL AND i.started_at >= $4
    UNION
    SELECT r.phone FROM outage_reports r
    WHERE $4::timestamptz IS NOT NULL AND r.outage_id = $2 AND r.created_at >= $4
      AND r.phone IS NOT NULL
), outage_targets AS (
    -- The outage's other campaigns' targets of these numbers, for the ETR and all-clear rules.
    SELECT oc.id AS campaign_id, oc.kind, oc.automatic, oc.state AS campaign_state, t.phone,
           t.state, t.outcome, t.attempts, t.heard_at, t.heard_etr
    FROM campaigns oc
    JOIN campaign_targets t ON t.campaign_id = oc.id
    JOIN auto_candidates c ON c.phone = t.phone
    WHERE ($5::boolean OR $9::boolean) AND oc.outage_id = $2 AND oc.id <> $1
), pending_elsewhere AS (
    -- Earlier ETR updates' pending calls are superseded by this one, not waited for.
    SELECT DISTINCT o.phone FROM outage_targets o
    WHERE $5::boolean AND o.automatic AND o.kind <> 'etr_update'
      AND o.campaign_state IN ('running', 'paused') AND o.state = 'pending'
), heard AS (
    SELECT DISTINCT ON (o.phone) o.phone, o.heard_etr FROM outage_targets o
    WHERE $5::boolean AND o.heard_at IS NOT NULL
    ORDER BY o.phone, o.heard_at DESC
), last_etr_call AS (
    -- Calls placed within the gap (by the placed index), and calls still under way, whose
    -- number the carrier may not have taken yet (no placed_at): each counts from its claim.
    SELECT l.phone, max(l.at) AS at FROM (
        SELECT a.phone, a.placed_at AS at
        FROM campaigns ec
        JOIN call_attempts a ON a.campaign_id = ec.id
        WHERE $5::boolean AND ec.outage_id = $2 AND ec.kind = 'etr_update' AND ec.id <> $1
          AND a.placed_at > $3::timestamptz - make_interval(secs => $8::integer)
        UNION ALL
        SELECT a.phone, coalesce(a.placed_at, a.created_at) AS at
        FROM campaigns ec
        JOIN call_attempts a ON a.campaign_id = ec.id
        WHERE $5::boolean AND ec.outage_id = $2 AND ec.kind = 'etr_update' AND ec.id <> $1
          AND a.ended_at IS NULL
    ) l
    GROUP BY l.phone
), latest_ack AS (
    -- A restoration before the outage's latest acknowledgement cleared an earlier closing of
    -- it (it was reopened since): that one does not clear this one.
    SELECT coalesce(max(ac.id), 0) AS id FROM campaigns ac
    WHERE $9::boolean AND ac.outage_id = $2 AND ac.automatic AND ac.kind = 'outage_ack'
), history AS (
    SELECT o.phone,
           -- Told of the outage: a call of it made (or being made), or they called us about
           -- it. Withdrawn unmade (restored first, no longer affected, cancelled, superseded,
           -- reopened) is not told.
           bool_or(o.automatic
                   AND (o.attempts > 0
                        OR (o.state = 'excluded' AND o.outcome = 'recent_caller'))) AS told,
           -- Told of the restoration, or about to be (a partial all-clear's call still to
           -- make): one all-clear call is enough.
           bool_or(o.kind = 'restoration' AND o.campaign_id > (SELECT la.id FROM latest_ack la)
                   AND (o.attempts > 0 OR o.state IN ('pending', 'calling'))) AS cleared
    FROM outage_targets o WHERE $9::boolean
    GROUP BY o.phone
), phone_premises AS (
    -- Every premise of the number: those of all its accounts on file, and those its targets
    -- name (a number no longer on file), not only the premises this campaign is about.
    SELECT c.phone, a.premise_id FROM auto_candidates c
    JOIN account_phones ap ON ap.e164 = c.phone
    JOIN accounts a ON a.account_number = ap.account_number
    WHERE $9::boolean
    UNION ALL
    SELECT c.phone, u.premise_id FROM auto_candidates c
    CROSS JOIN LATERAL unnest(c.premise_ids) AS u (premise_id)
    WHERE $9::boolean
), still_out AS (
    SELECT pp.phone FROM phone_premises pp
    JOIN outage_premises op ON op.premise_id = pp.premise_id
    JOIN outages o ON o.id = op.outage_id
    WHERE o.active AND (o.id <> $2 OR ($10::boolean AND pp.premise_id <> ALL($11::text[])))
    UNION
    SELECT pp.phone FROM phone_premises pp
    JOIN premises p ON p.premise_id = pp.premise_id
    JOIN outage_feeders f ON f.feeder_id = p.feeder_id
    JOIN outages o ON o.id = f.outage_id
    WHERE o.active AND (o.id <> $2 OR ($10::boolean AND f.feeder_id <> ALL($12::text[])))
), decided AS (
    SELECT c.phone, c.account_numbers, c.premise_ids, c.language, c.timezone,
           CASE WHEN f.opted_out_at IS NOT NULL THEN 'opted_out'
                WHEN f.invalid_at IS NOT NULL THEN 'invalid_number'
                WHEN r.phone IS NOT NULL THEN 'recent_caller'
                WHEN pe.phone IS NOT NULL THEN 'call_pending'
                WHEN h.phone IS NOT NULL
                     AND ((h.heard_etr IS NULL AND $6::timestamptz IS NULL)
                          OR abs(extract(epoch FROM h.heard_etr - $6::timestamptz)) < $7::integer)
                    THEN 'already_heard'
                -- A number with no history of the outage was never told either.
                WHEN $9::boolean AND hi.told IS NOT TRUE THEN 'not_told'
                WHEN hi.cleared THEN 'already_cleared'
                WHEN so.phone IS NOT NULL THEN 'still_out_elsewhere'
           END AS reason,
           l.at + make_interval(secs => $8::integer) AS due
    FROM candidates c
    LEFT JOIN flagged_phones f ON f.e164 = c.phone
    LEFT JOIN recent r ON r.phone = c.phone
    LEFT JOIN pending_elsewhere pe ON pe.phone = c.phone
    LEFT JOIN heard h ON h.phone = c.phone
    LEFT JOIN last_etr_call l ON l.phone = c.phone
    LEFT JOIN history hi ON hi.phone = c.phone
    LEFT JOIN still_out so ON so.phone = c.phone
), written AS (
    INSERT INTO campaign_targets (campaign_id, phone, account_numbers, premise_ids, language,
                                  timezone, state, outcome, next_attempt_at, updated_at)
    SELECT $1, d.phone, d.account_numbers, d.premise_ids, d.language, d.timezone,
           CASE WHEN d.reason IS NULL THEN 'pending' ELSE 'excluded' END, d.reason,
           -- No due time unless the gap defers it: a target never tried is claimed by key.
           CASE WHEN d.reason IS NULL THEN d.due END, $3
    FROM decided d
    RETURNING state, outcome
)
SELECT state, coalesce(outcome, '') AS outcome, count(*) AS targets
FROM written GROUP BY state, outcome;

-- name: auto_ack_campaign
-- The outage's acknowledgement campaign ($2: the triggers that start one), the latest.
SELECT id, state FROM campaigns
WHERE outage_id = $1 AND automatic AND trigger_event = ANY($2::text[])
ORDER BY id DESC LIMIT 1;

-- name: auto_append_begin
-- Set, and committed, before the new targets are written: the dialer does not finish a
-- campaign that is planning, so it cannot finish this one between its last call and the
-- new targets' commit. A plan left here by a crash is finished like any other (the
-- acknowledgement's plan takes everyone on the outage it lacks).
UPDATE campaigns SET planning = true, updated_at = $2
WHERE id = $1 AND state <> 'cancelled'
RETURNING id;

-- name: auto_append_done
-- $3: whether numbers were added, which runs the campaign again whatever the dialer made of
-- it meanwhile (a supervisor's pause or cancellation stands). $4: the campaign was planning
-- before the append began: its own plan, still to write the rest, clears it.
UPDATE campaigns SET planning = planning AND $4::boolean, updated_at = $2,
       state = CASE WHEN $3::boolean AND state IN ('running', 'completed') THEN 'running'
                    ELSE state END,
       finished_at = CASE WHEN $3::boolean AND state IN ('running', 'completed') THEN NULL
                          ELSE finished_at END
WHERE id = $1
RETURNING state;

-- name: auto_withdraw_campaigns
-- The outage's automatic campaigns started by these triggers (none named: all of them).
SELECT id FROM campaigns
WHERE outage_id = $1 AND automatic
  AND (cardinality($2::text[]) = 0 OR trigger_event = ANY($2::text[]))
ORDER BY id;

-- name: auto_withdraw_all
-- Pending calls of these campaigns ($1) excluded with the reason $2. $4 false: counted, not
-- written (a preview, which must not hold the rows the dialer claims).
WITH changed AS (
    UPDATE campaign_targets t SET state = 'excluded', outcome = $2, updated_at = $3
    WHERE $4::boolean AND t.campaign_id = ANY($1::bigint[]) AND t.state = 'pending'
    RETURNING 1
)
SELECT CASE WHEN $4::boolean THEN (SELECT count(*) FROM changed)
            ELSE (SELECT count(*) FROM campaign_targets t
                  WHERE t.campaign_id = ANY($1::bigint[]) AND t.state = 'pending') END
       AS withdrawn;

-- name: auto_withdraw
-- As auto_withdraw_all ($4: written), only those none of whose premises is on the outage
-- ($5) now.
WITH members AS (
    SELECT op.premise_id FROM outage_premises op WHERE op.outage_id = $5
    UNION
    SELECT p.premise_id FROM outage_feeders f
    JOIN premises p ON p.feeder_id = f.feeder_id
    WHERE f.outage_id = $5
), pending AS (
    SELECT t.campaign_id, t.id, t.premise_ids FROM campaign_targets t
    WHERE t.campaign_id = ANY($1::bigint[]) AND t.state = 'pending'
), still_affected AS (
    SELECT DISTINCT p.campaign_id, p.id FROM pending p
    CROSS JOIN LATERAL unnest(p.premise_ids) AS u (premise_id)
    JOIN members m ON m.premise_id = u.premise_id
), gone AS (
    SELECT p.campaign_id, p.id FROM pending p
    LEFT JOIN still_affected s ON s.campaign_id = p.campaign_id AND s.id = p.id
    WHERE s.id IS NULL
), changed AS (
    UPDATE campaign_targets t SET state = 'excluded', outcome = $2, updated_at = $3
    FROM gone g
    WHERE $4::boolean AND t.campaign_id = g.campaign_id AND t.id = g.id AND t.state = 'pending'
    RETURNING 1
)
SELECT CASE WHEN $4::boolean THEN (SELECT count(*) FROM changed)
            ELSE (SELECT count(*) FROM gone) END AS withdrawn;

-- name: auto_preview_outage
-- The preview of an outage not stored yet: a row for it, in a transaction rolled back.
INSERT INTO outages (oms_id, status, state, created_at, updated_at)
VALUES ($1, 'reported', '{}'::jsonb, $2, $2)
RETURNING id;
