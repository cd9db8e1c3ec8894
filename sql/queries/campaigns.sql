-- name: campaign_insert
INSERT INTO campaigns (name, kind, spec, outage_id, cps, max_concurrent, window_opens,
                       window_closes, urgent, priority, starts_at, created_by, created_at,
                       updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)
RETURNING id;

-- name: campaign_outage
SELECT id, status FROM outages WHERE oms_id = $1;

-- name: campaign_estimate_timeout
-- $1 milliseconds: every statement of an estimate's transaction stops past it, so that one
-- estimate never holds a pool connection for the length of a real plan.
SELECT set_config('statement_timeout', $1::text, true);

-- name: campaign_build_memory
-- A million-row audience is grouped in memory rather than spilled to disk, and by sorting:
-- a hash aggregate keeps an array_agg state of its own per phone number, which for a
-- million numbers spilled to disk and was the slowest step of the plan.
SET LOCAL work_mem = '256MB';
SET LOCAL enable_hashagg = off;

-- name: campaign_audience_keys_create
CREATE TEMPORARY TABLE audience_keys (kind text NOT NULL, key text COLLATE "C" NOT NULL)
ON COMMIT DROP;

-- name: campaign_targets_build
-- Everyone the audience names, one row per phone number: a household with several affected
-- accounts gets one call that names them all. Opted-out numbers are kept as excluded, with
-- the reason, so the supervisor sees who was left out.
-- Shard $6 of $7: the numbers whose hash falls to it, so that several connections build
-- one campaign's targets side by side (a number always falls to the same shard).
WITH chosen AS (
    -- A union of simple joins, not one scan with ORed IN-lists: each branch hashes its keys
    -- once, where the ORed form re-ran a subquery per account on a million-row audience.
    -- Each branch brings its premise's language and time zone, joined once here.
    SELECT a.account_number, a.premise_id, p.language, p.timezone FROM accounts a
    JOIN premises p ON p.premise_id = a.premise_id
    JOIN audience_keys k ON k.kind = 'account' AND k.key = a.account_number
    UNION
    SELECT a.account_number, a.premise_id, p.language, p.timezone FROM accounts a
    JOIN premises p ON p.premise_id = a.premise_id
    JOIN audience_keys k ON k.kind = 'premise' AND k.key = a.premise_id
    UNION
    SELECT a.account_number, a.premise_id, p.language, p.timezone FROM accounts a
    JOIN premises p ON p.premise_id = a.premise_id
    JOIN audience_keys k ON k.kind = 'feeder' AND k.key = p.feeder_id
    UNION
    SELECT a.account_number, a.premise_id, p.language, p.timezone FROM accounts a
    JOIN premises p ON p.premise_id = a.premise_id
    JOIN outage_premises op ON op.premise_id = a.premise_id
    WHERE NOT $3::boolean AND op.outage_id = $2::bigint
    UNION
    SELECT a.account_number, a.premise_id, p.language, p.timezone FROM accounts a
    JOIN premises p ON p.premise_id = a.premise_id
    JOIN outage_feeders f ON f.feeder_id = p.feeder_id
    WHERE NOT $3::boolean AND f.outage_id = $2::bigint
), sources AS (
    SELECT ap.e164 AS phone, c.account_number, c.premise_id, c.language, c.timezone
    FROM chosen c
    JOIN account_phones ap ON ap.account_number = c.account_number
    WHERE (hashtext(ap.e164) & 2147483647) % $7 = $6
    UNION ALL
    SELECT r.phone, r.account_number, r.premise_id, r.language,
           coalesce(pr.timezone, $5)
    FROM callback_requests r LEFT JOIN premises pr ON pr.premise_id = r.premise_id
    WHERE $3::boolean AND r.outage_id = $2 AND r.fulfilled_at IS NULL
      AND (hashtext(r.phone) & 2147483647) % $7 = $6
), flagged_phones AS (
    -- Only the numbers with a flag: a small hash to probe, not every number on file.
    SELECT ph.e164, ph.opted_out_at, ph.invalid_at FROM phones ph
    WHERE ph.opted_out_at IS NOT NULL OR ph.invalid_at IS NOT NULL
), by_phone AS (
    -- Plain array_agg (no DISTINCT): (phone, account) pairs are already unique here.
    SELECT s.phone,
           coalesce(array_agg(s.account_number) FILTER (WHERE s.account_number IS NOT NULL),
                    '{}') AS account_numbers,
           coalesce(array_agg(s.premise_id) FILTER (WHERE s.premise_id IS NOT NULL),
                    '{}') AS premise_ids,
           min(s.language) AS language, min(s.timezone) AS timezone,
           bool_or(f.opted_out_at IS NOT NULL) AS opted_out,
           bool_or(f.invalid_at IS NOT NULL) AS invalid
    FROM sources s LEFT JOIN flagged_phones f ON f.e164 = s.phone
    GROUP BY s.phone
), written AS (
    INSERT INTO campaign_targets (campaign_id, phone, account_numbers, premise_ids, language,
                                  timezone, state, outcome, next_attempt_at, updated_at)
    SELECT $1, b.phone, b.account_numbers, b.premise_ids, b.language, b.timezone,
           CASE WHEN b.opted_out OR b.invalid THEN 'excluded' ELSE 'pending' END,
           CASE WHEN b.opted_out THEN 'opted_out' WHEN b.invalid THEN 'invalid_number' END,
           -- No due time: a target never tried is claimed by key (see dialer_claim).
           NULL, $4
    FROM by_phone b
    RETURNING state, outcome
)
-- Counted as written, as campaign_progress_targets would count them: reading a million
-- targets back for the answer took 0.7-1.5 s.
SELECT state, coalesce(outcome, '') AS outcome, count(*) AS targets
FROM written GROUP BY state, outcome;

-- name: campaign_plan_lock
-- Held by the transaction that writes the campaign row until it commits: its targets,
-- committed first by the shards, are then not taken for a dead plan's.
SELECT pg_advisory_xact_lock($1, ($2::bigint % 2147483647)::integer);

-- name: campaign_plan_snapshot
SELECT pg_export_snapshot();

-- name: campaign_orphans_lock
-- Campaigns that have targets and no row: a plan that died between its shards' commits and
-- the campaign's own. Those whose lock is free are taken (the plan is gone), walking the
-- primary key one campaign at a time rather than reading every target.
WITH RECURSIVE planned (campaign_id) AS (
    (SELECT campaign_id FROM campaign_targets ORDER BY campaign_id LIMIT 1)
    UNION ALL
    SELECT (SELECT t.campaign_id FROM campaign_targets t
            WHERE t.campaign_id > p.campaign_id ORDER BY t.campaign_id LIMIT 1)
    FROM planned p WHERE p.campaign_id IS NOT NULL
)
SELECT p.campaign_id FROM planned p
WHERE p.campaign_id IS NOT NULL
  AND NOT EXISTS (SELECT FROM campaigns c WHERE c.id = p.campaign_id)
  AND pg_try_advisory_xact_lock($1, (p.campaign_id % 2147483647)::integer);

-- name: campaign_orphans_delete
-- A statement of its own, with a snapshot taken after the locks: a plan that committed its
-- campaign while the locks were being taken has it seen here.
DELETE FROM campaign_targets t
WHERE t.campaign_id = ANY($1::bigint[])
  AND NOT EXISTS (SELECT FROM campaigns c WHERE c.id = t.campaign_id);

-- name: campaign_unknown_keys
-- $1: how many of each kind's missing keys to name.
SELECT k.kind, count(*) AS missing, (array_agg(k.key ORDER BY k.key))[1:$1] AS examples
FROM audience_keys k
WHERE (k.kind = 'account' AND NOT EXISTS (SELECT FROM accounts a WHERE a.account_number = k.key))
   OR (k.kind = 'premise' AND NOT EXISTS (SELECT FROM premises p WHERE p.premise_id = k.key))
   OR (k.kind = 'feeder' AND NOT EXISTS (SELECT FROM premises p WHERE p.feeder_id = k.key))
GROUP BY k.kind;

-- name: campaign_get
-- With what started it, when the automation did: the OMS's id of its outage.
SELECT c.id, c.name, c.kind, c.state, c.spec, c.outage_id, c.cps, c.max_concurrent,
       c.window_opens, c.window_closes, c.urgent, c.priority, c.starts_at, c.created_by,
       c.created_at, c.updated_at, c.started_at, c.finished_at, c.automatic, c.trigger_event,
       c.trigger_event_id, o.oms_id AS outage_oms_id
FROM campaigns c LEFT JOIN outages o ON o.id = c.outage_id
WHERE c.id = $1;

-- name: campaign_list
SELECT c.id, c.name, c.kind, c.state, c.spec, c.outage_id, c.cps, c.max_concurrent,
       c.window_opens, c.window_closes, c.urgent, c.priority, c.starts_at, c.created_by,
       c.created_at, c.updated_at, c.started_at, c.finished_at, c.automatic, c.trigger_event,
       c.trigger_event_id, o.oms_id AS outage_oms_id
FROM campaigns c LEFT JOIN outages o ON o.id = c.outage_id
ORDER BY c.id DESC LIMIT $1;

-- name: campaign_set_state
-- $3: the states the action may be taken from; returns nothing when the campaign was not in one.
UPDATE campaigns SET state = $2, updated_at = $4,
       started_at = CASE WHEN $2 = 'running' THEN coalesce(started_at, $4) ELSE started_at END,
       finished_at = CASE WHEN $2 IN ('completed', 'cancelled') THEN $4 ELSE finished_at END
WHERE id = $1 AND state = ANY($3::text[])
RETURNING id;

-- name: campaign_set_pacing
UPDATE campaigns SET cps = coalesce($2, cps), max_concurrent = coalesce($3, max_concurrent),
       window_opens = coalesce($4, window_opens), window_closes = coalesce($5, window_closes),
       priority = coalesce($6, priority), updated_at = $7
WHERE id = $1
RETURNING id;

-- name: campaign_targets_analyze
-- Run as a campaign starts or resumes: until statistics count its targets, the claim is
-- planned for the none there were and reads all of them per batch (1.2 s at a million,
-- against 5 ms by the due index), for the minute autovacuum takes to notice. Only the
-- columns the claim's plan turns on: 0.5 s on 6.7M targets, against 1.3 s for every column.
ANALYZE campaign_targets (campaign_id, state);

-- name: campaign_notify
SELECT pg_notify('outage_voice_dialer', $1::text);

-- name: campaign_progress_plan
-- A campaign's targets lie together (written in one plan), and its key finds them. With
-- one campaign an eighth of the table, the planner scanned the whole table instead, every
-- campaign's history: 0.9-1.2 s against 0.37 s at 9M targets, and growing with the history.
SET LOCAL enable_seqscan = off;

-- name: campaign_progress_targets
SELECT state, coalesce(outcome, '') AS outcome, count(*) AS targets
FROM campaign_targets WHERE campaign_id = $1 GROUP BY state, outcome;

-- name: campaign_progress_attempts
SELECT count(*) AS attempts,
       count(*) FILTER (WHERE ended_at IS NULL AND status <> 'not_placed') AS live,
       count(*) FILTER (WHERE placed_at > $2) AS placed_recently,
       min(placed_at) AS first_placed, max(placed_at) AS last_placed
FROM call_attempts WHERE campaign_id = $1 AND status <> 'not_placed';

-- name: dialer_running_campaigns
-- Not the spec: run at every step of the dialer, it would decode each campaign's audience.
SELECT c.id, c.kind, c.cps, c.max_concurrent, c.window_opens, c.window_closes, c.urgent,
       c.priority, c.expires_at,
       (SELECT count(*) FROM call_attempts a
        WHERE a.campaign_id = c.id AND a.ended_at IS NULL) AS live
FROM campaigns c
WHERE c.state = 'running' AND (c.starts_at IS NULL OR c.starts_at <= $1)
  -- Past its end (a notice once the work has started) nothing more is placed; the schedule's
  -- tick excludes what is left as expired, and the campaign completes.
  AND (c.expires_at IS NULL OR c.expires_at > $1)
ORDER BY c.priority DESC, c.id;

-- name: dialer_claim_plan
-- The claim walks a campaign's key from where the last one stopped, and stops after one
-- batch. Planned on statistics taken before a new campaign's targets were written (their
-- due time empty), it read and sorted all of them instead: 0.6-1 s per claim against
-- 10-20 ms, which halved the placement rate.
SET LOCAL enable_bitmapscan = off;
SET LOCAL enable_seqscan = off;

-- name: dialer_claim
-- Targets inside the calling window in their own time zone, each given an attempt row that
-- is committed before any call is placed. $4: urgent (no window). Retries and deferred
-- targets that are due go first, by due time from the due index; the rest of the batch are
-- targets never tried, in key order after the campaign's fresh_after. Those found outside
-- their window on the way are given a due time of now, which puts them in the due index
-- for the dialer to defer to their window's opening; fresh_after moves past every target
-- looked at, so none is looked at twice and none is skipped. Returns the attempts, or one
-- row with no attempt when none was claimed; `out_of_window` on every row.
WITH due AS (
    SELECT t.id FROM campaign_targets t
    WHERE t.campaign_id = $1 AND t.state = 'pending' AND t.next_attempt_at <= $2
      AND ($4::boolean OR in_calling_window($2, t.timezone, $5, $6))
    ORDER BY t.next_attempt_at, t.id
    LIMIT $3
    FOR UPDATE SKIP LOCKED
), fresh AS (
    -- No lock: only the leading dialer touches targets never tried, and the updates below
    -- take a row only while it is still untried. $7: how far past the batch to look for
    -- targets in their window.
    SELECT t.id, ($4::boolean OR in_calling_window($2, t.timezone, $5, $6)) AS open
    FROM campaign_targets t
    WHERE t.campaign_id = $1
      AND t.id > (SELECT c.fresh_after FROM campaigns c WHERE c.id = $1)
      AND t.state = 'pending' AND t.next_attempt_at IS NULL
    ORDER BY t.id
    LIMIT $3 + $7
), fresh_taken AS (
    -- As many in their window as the batch has room for, and every target out of its
    -- window before the next one in it.
    SELECT f.id, f.open FROM (
        SELECT f.id, f.open, count(*) FILTER (WHERE f.open) OVER (ORDER BY f.id) AS rank
        FROM fresh f) f
    WHERE f.rank <= $3 - (SELECT count(*) FROM due)
), moved_on AS (
    UPDATE campaigns c SET fresh_after = (SELECT max(f.id) FROM fresh_taken f)
    WHERE c.id = $1 AND EXISTS (SELECT FROM fresh_taken)
), out_of_window AS (
    UPDATE campaign_targets t SET next_attempt_at = $2, updated_at = $2
    WHERE t.campaign_id = $1
      AND t.id = ANY (ARRAY(SELECT f.id FROM fresh_taken f WHERE NOT f.open))
      AND t.state = 'pending' AND t.next_attempt_at IS NULL
    RETURNING t.id
), claimed AS (
    -- By key, whatever the statistics say: a join here, planned while a new campaign's
    -- targets were not yet counted, scanned the claimed rows once per target (seconds).
    -- A due time from here on, so that a target put back in line is found by the index.
    UPDATE campaign_targets t SET state = 'calling', attempts = t.attempts + 1,
           next_attempt_at = coalesce(t.next_attempt_at, $2), updated_at = $2
    WHERE t.campaign_id = $1
      AND t.id = ANY (ARRAY(SELECT due.id FROM due
                            UNION ALL SELECT f.id FROM fresh_taken f WHERE f.open))
      AND t.state = 'pending'
    RETURNING t.id, t.campaign_id, t.attempts, t.phone
), attempts AS (
    INSERT INTO call_attempts (target_id, campaign_id, attempt_no, phone, created_at)
    SELECT id, campaign_id, attempts, phone, $2 FROM claimed
    ORDER BY id
    RETURNING id, target_id, phone, attempt_no
)
SELECT a.id, a.target_id, a.phone, a.attempt_no, moved.out_of_window
FROM (SELECT count(*) AS out_of_window FROM out_of_window) moved
LEFT JOIN attempts a ON true
ORDER BY a.id;

-- name: dialer_out_of_window_zones
SELECT DISTINCT t.timezone FROM campaign_targets t
WHERE t.campaign_id = $1 AND t.state = 'pending' AND t.next_attempt_at <= $2;

-- name: dialer_defer_zone
UPDATE campaign_targets SET next_attempt_at = $4, updated_at = $2
WHERE campaign_id = $1 AND state = 'pending' AND next_attempt_at <= $2 AND timezone = $3;

-- name: dialer_placed
-- Many at once: the carrier's answers arrive faster than one write per call would keep up with.
UPDATE call_attempts a SET call_sid = coalesce(a.call_sid, p.call_sid), placed_at = p.placed_at,
       status = CASE WHEN a.status = 'placing' THEN 'queued' ELSE a.status END
FROM unnest($1::bigint[], $2::text[], $3::timestamptz[]) AS p (id, call_sid, placed_at)
WHERE a.id = p.id;

-- name: dialer_not_placed
-- The carrier never took this attempt: the target goes back in line, its count restored.
WITH a AS (
    UPDATE call_attempts SET status = 'not_placed', ended_at = $2, error_code = $3
    WHERE id = $1 AND status = 'placing' AND call_sid IS NULL
    RETURNING campaign_id, target_id
)
UPDATE campaign_targets t SET state = 'pending', attempts = t.attempts - 1,
       next_attempt_at = $4, updated_at = $2
FROM a WHERE t.campaign_id = a.campaign_id AND t.id = a.target_id AND t.state = 'calling';

-- name: dialer_in_doubt
SELECT a.id, a.phone, a.created_at FROM call_attempts a
WHERE a.status = 'placing' AND a.call_sid IS NULL AND a.ended_at IS NULL
ORDER BY a.id;

-- name: dialer_known_sids
SELECT call_sid FROM call_attempts WHERE call_sid = ANY($1::text[]);

-- name: dialer_release_unplaced_targets
-- Run when a leader takes over: targets left 'calling' with no live attempt. Claims and
-- attempt ends each change attempt and target in one transaction, so this is a safety net.
UPDATE campaign_targets t SET state = 'pending', updated_at = $1
WHERE t.state = 'calling' AND NOT EXISTS (
    SELECT FROM call_attempts a WHERE a.target_id = t.id AND a.ended_at IS NULL);

-- name: dialer_finish_campaigns
-- Run each time the dialer has nothing to place (every line busy, say), so each question is
-- put for a small index to answer. Asked as `EXISTS (... state IN ('pending', 'calling'))`,
-- the planner walked the key past every target already called (0.85 s with 600k of 1.1M
-- done, after every call). The earliest due time is read from the due index.
-- The campaign row as this statement's snapshot saw it (`seen`) must be the row it updates:
-- a campaign changed meanwhile (numbers appended and committed while this ran) would be
-- re-checked by PostgreSQL on its new row alone, its targets still read from the old
-- snapshot, and finished with new numbers never called. It is looked at again next time.
UPDATE campaigns c SET state = 'completed', finished_at = $1, updated_at = $1
FROM campaigns seen
WHERE seen.id = c.id AND seen.xmin = c.xmin
  AND c.state = 'running'
  -- Targets still being written (an automatic campaign's rest): not finished before they are.
  AND NOT c.planning
  AND (SELECT min(t.next_attempt_at) FROM campaign_targets t
       WHERE t.campaign_id = c.id AND t.state = 'pending'
         AND t.next_attempt_at IS NOT NULL) IS NULL
  -- Never tried: the first by key from where the claims stopped (only targets excluded when
  -- planned lie between). Asked as EXISTS, the planner may read the table from its start
  -- to find one (0.3-0.5 s with 9M targets); ordered and limited, it walks the key.
  AND (SELECT t.id FROM campaign_targets t
       WHERE t.campaign_id = c.id AND t.id > c.fresh_after
         AND t.state = 'pending' AND t.next_attempt_at IS NULL
       ORDER BY t.id LIMIT 1) IS NULL
  AND NOT EXISTS (
    SELECT FROM campaign_targets t WHERE t.campaign_id = c.id AND t.state = 'calling')
RETURNING c.id;

-- name: attempt_seen
-- What a call's end is decided on, when its callback did not say (see attempt_end).
SELECT campaign_id, attempt_no, answered_by, error_code, status
FROM call_attempts WHERE id = $1;

-- name: attempt_status
-- Statuses only move forward; returns the attempt when this callback changed it.
UPDATE call_attempts SET status = $2, sequence = greatest(sequence, $3),
       call_sid = coalesce(call_sid, $4),
       answered_by = coalesce($5, answered_by), error_code = coalesce($6, error_code),
       duration_s = coalesce($7, duration_s),
       ended_at = CASE WHEN $8::boolean THEN coalesce(ended_at, $9) ELSE ended_at END
WHERE id = $1 AND status <> 'not_placed'
  AND coalesce(array_position($10::text[], status), 0) < array_position($10::text[], $2)
RETURNING id;

-- name: attempt_end
-- A call's final status and its target's fate in one statement, hence one transaction: no
-- moment exists where the call is over and its target still looks busy (a sweep could then
-- requeue it and call it twice). The decision ($14..$17) was taken on what the attempt was
-- presumed to be ($10..$13); when it is not that (another callback changed it meanwhile, or
-- the presumption was wrong), nothing is written and the caller reads and decides again.
WITH a AS (
    UPDATE call_attempts SET status = $2, sequence = greatest(sequence, $3),
           call_sid = coalesce(call_sid, $4),
           answered_by = coalesce($5, answered_by), error_code = coalesce($6, error_code),
           duration_s = coalesce($7, duration_s), ended_at = coalesce(ended_at, $8)
    WHERE id = $1 AND status <> 'not_placed'
      AND coalesce(array_position($9::text[], status), 0) < array_position($9::text[], $2)
      AND campaign_id = $10 AND attempt_no = $11
      AND coalesce($5, answered_by) IS NOT DISTINCT FROM $12::text
      AND coalesce($6, error_code) IS NOT DISTINCT FROM $13::integer
    RETURNING id, campaign_id, target_id, phone
), target AS (
    UPDATE campaign_targets t SET
        state = CASE WHEN $14::boolean THEN 'done' ELSE 'pending' END,
        outcome = CASE WHEN t.outcome IN ('still_out', 'opted_out') THEN t.outcome ELSE $15 END,
        next_attempt_at = CASE WHEN $14::boolean THEN t.next_attempt_at ELSE $16 END,
        updated_at = $8
    FROM a WHERE t.campaign_id = a.campaign_id AND t.id = a.target_id AND t.state = 'calling'
), invalid AS (
    UPDATE phones ph SET invalid_at = coalesce(ph.invalid_at, $8)
    FROM a WHERE $17::boolean AND ph.e164 = a.phone
)
SELECT a.id, pg_notify('outage_voice_dialer', 'attempt') AS notified FROM a;

-- name: attempt_context
-- Only the parts of the campaign's spec an answered call needs: the whole spec holds its
-- audience, a million account numbers perhaps, decoded on every answered call.
SELECT a.id, a.target_id, a.campaign_id, a.phone, a.attempt_no, a.answered_by,
       t.account_numbers, t.premise_ids, t.language, t.timezone, t.outcome,
       c.kind, c.spec -> 'message' AS message, c.spec ->> 'voicemail' AS voicemail,
       c.spec -> 'audience' ->> 'outage_id' AS outage_oms_id,
       coalesce((c.spec -> 'audience' ->> 'callback_requests')::boolean, false)
           AS callback_requests,
       c.outage_id, c.state AS campaign_state, c.automatic
FROM call_attempts a
JOIN campaign_targets t ON t.campaign_id = a.campaign_id AND t.id = a.target_id
JOIN campaigns c ON c.id = a.campaign_id
WHERE a.id = $1;

-- name: target_outcome
UPDATE campaign_targets SET outcome = $3, updated_at = $4 WHERE campaign_id = $1 AND id = $2;

-- name: target_heard
-- The message reached the customer (or their voicemail): when, and the ETR it spoke (NULL:
-- it said there was no estimate), which the ETR rules read back.
UPDATE campaign_targets SET heard_at = $4, heard_etr = $3, updated_at = $4
WHERE campaign_id = $1 AND id = $2;

-- name: phone_opt_out
INSERT INTO phones (e164, opted_out_at) VALUES ($1, $2)
ON CONFLICT (e164) DO UPDATE SET opted_out_at = coalesce(phones.opted_out_at, EXCLUDED.opted_out_at);

-- name: still_out_report
INSERT INTO outage_reports
    (kind, premise_id, account_number, outage_id, phone, call_sid, source, details, created_at)
VALUES ('still_out', $1, $2, $3, $4, $5, 'campaign', $6, $7)
ON CONFLICT DO NOTHING;

-- name: callbacks_fulfil
UPDATE callback_requests r SET fulfilled_at = $3
WHERE r.outage_id = $1 AND r.fulfilled_at IS NULL AND r.phone = $2;

-- name: dialer_stale_attempts
-- Placed calls whose final status never came (a lost callback): asked about directly.
-- $3: attempts the carrier could not tell about lately, left for later.
SELECT id, call_sid FROM call_attempts
WHERE ended_at IS NULL AND call_sid IS NOT NULL AND placed_at < $1 AND id <> ALL($3::bigint[])
ORDER BY placed_at LIMIT $2;

-- name: dialer_live_calls
-- Every call live as a leader takes over, adopted ones included: its callbacks may have
-- gone to no one while no server listened, so each is asked about in the takeover.
SELECT id, call_sid FROM call_attempts
WHERE ended_at IS NULL AND call_sid IS NOT NULL
ORDER BY id;

-- name: dialer_still_live
SELECT id, call_sid FROM call_attempts
WHERE id = ANY($1::bigint[]) AND ended_at IS NULL AND call_sid IS NOT NULL
ORDER BY id;

-- name: dialer_to_cancel
-- Calls of cancelled campaigns not known to be answered: the carrier is asked to end those
-- still queued or ringing (an answered call goes on to the end of its message). Only the
-- answered and final callbacks are asked for, so a ringing call still reads 'queued' here.
SELECT a.id, a.call_sid FROM campaigns c
JOIN call_attempts a ON a.campaign_id = c.id AND a.ended_at IS NULL
WHERE c.state = 'cancelled' AND a.call_sid IS NOT NULL
  AND a.status IN ('queued', 'initiated', 'ringing')
ORDER BY a.id;

-- name: dialer_next_due
-- Run whenever the dialer has nothing to place (with every line busy: after each call), so
-- each campaign's answer is the first entry of its due index, whatever the statistics say:
-- as a min() over a new campaign's targets it was planned as a parallel scan (12-27 ms).
-- A campaign with targets never tried has had work since it was created.
SELECT min(due.at) FROM campaigns c
CROSS JOIN LATERAL (
    (SELECT t.next_attempt_at AS at FROM campaign_targets t
     WHERE t.campaign_id = c.id AND t.state = 'pending' AND t.next_attempt_at IS NOT NULL
     ORDER BY t.next_attempt_at LIMIT 1)
    UNION ALL
    -- As in dialer_finish_campaigns: the first by key, not EXISTS.
    SELECT c.created_at WHERE (
        SELECT t.id FROM campaign_targets t
        WHERE t.campaign_id = c.id AND t.id > c.fresh_after
          AND t.state = 'pending' AND t.next_attempt_at IS NULL
        ORDER BY t.id LIMIT 1) IS NOT NULL
) due
WHERE c.id = ANY($1::bigint[]);
