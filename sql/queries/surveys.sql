-- Post-outage surveys: the campaign that asks (its audience chosen with a reason for each
-- number left out), what the calls answered, and the call-back list.

-- name: survey_outage_by_pk
SELECT id, oms_id FROM outages WHERE id = $1;

-- name: survey_outage_by_oms_id
SELECT id, oms_id FROM outages WHERE oms_id = $1;

-- name: survey_campaign_insert
-- A survey campaign, running from now. Automatic ones name the schedule row that started
-- them ($14, trigger 'survey'): a replay finds the campaign, and nothing is returned then.
INSERT INTO campaigns (name, kind, spec, outage_id, cps, max_concurrent, window_opens,
                       window_closes, urgent, priority, starts_at, created_by, created_at,
                       updated_at, state, started_at, automatic, trigger_event,
                       trigger_event_id, planning, expires_at)
VALUES ($1, 'survey', $2, $3, $4, $5, $6, $7, false, $8, $9, $10, $11, $11, 'running', $11,
        $12, CASE WHEN $12::boolean THEN 'survey' END, $13, false, $14)
ON CONFLICT (trigger_event_id, trigger_event) WHERE trigger_event_id IS NOT NULL DO NOTHING
RETURNING id;

-- name: survey_campaign_found
SELECT id FROM campaigns WHERE trigger_event_id = $1 AND trigger_event = 'survey';

-- name: survey_audience_lock
-- Every survey audience write takes turns (adapters/db/surveys.py SURVEY_AUDIENCE_LOCK_KEY).
SELECT pg_advisory_xact_lock($1);

-- name: survey_on_outage_mark
-- The numbers auto_fill_outage put in auto_candidates (those on the outage now), before
-- auto_fill_told adds those its automatic campaigns had whose premises it no longer names.
CREATE TEMPORARY TABLE survey_on_outage ON COMMIT DROP AS
SELECT phone FROM auto_candidates;

-- name: survey_on_outage_drop
DROP TABLE survey_on_outage;

-- name: survey_targets_write
-- auto_candidates (the automatic campaigns' audience: auto_fill_outage, then auto_fill_told)
-- written as the survey campaign's ($1) targets: to call, or excluded with the reason, the
-- first that applies. Off the outage's ($2) premises, only numbers one of its automatic
-- calls reached (attempts > 0; a survey's own calls are not telling) are asked at all.
-- $3: now; $4: the least time between two survey calls to one number (s); $5: the sample's
-- share (NULL: everyone, a survey sent on demand); $6: the outage's OMS id, which the
-- sample is drawn from.
WITH candidates AS (
    SELECT c.phone, c.account_numbers, c.premise_ids, c.language, c.timezone
    FROM auto_candidates c
    WHERE EXISTS (SELECT FROM survey_on_outage o WHERE o.phone = c.phone)
       OR EXISTS (SELECT FROM campaigns oc JOIN campaign_targets t ON t.campaign_id = oc.id
                  WHERE oc.outage_id = $2 AND oc.automatic AND oc.kind <> 'survey'
                    AND t.phone = c.phone AND t.attempts > 0)
), surveyed AS (
    -- A survey call placed to the number within the gap, by any survey campaign, or one
    -- still to place (a survey sent twice asks once).
    SELECT a.phone FROM campaigns sc
    JOIN call_attempts a ON a.campaign_id = sc.id
    WHERE sc.kind = 'survey' AND sc.id <> $1
      AND a.placed_at > $3::timestamptz - make_interval(secs => $4::integer)
    UNION
    SELECT t.phone FROM campaigns sc
    JOIN campaign_targets t ON t.campaign_id = sc.id
    WHERE sc.kind = 'survey' AND sc.id <> $1 AND sc.state IN ('draft', 'running', 'paused')
      AND t.state IN ('pending', 'calling')
), decided AS (
    SELECT c.phone, c.account_numbers, c.premise_ids, c.language, c.timezone,
           CASE WHEN ph.opted_out_at IS NOT NULL THEN 'opted_out'
                WHEN ph.invalid_at IS NOT NULL THEN 'invalid_number'
                WHEN ph.survey_opted_out_at IS NOT NULL THEN 'survey_opted_out'
                WHEN s.phone IS NOT NULL THEN 'surveyed_recently'
                WHEN $5::float8 IS NOT NULL
                     AND NOT survey_in_sample(c.phone, $6::text, $5::float8) THEN 'not_sampled'
           END AS reason
    FROM candidates c
    LEFT JOIN phones ph ON ph.e164 = c.phone
    LEFT JOIN surveyed s ON s.phone = c.phone
), written AS (
    INSERT INTO campaign_targets (campaign_id, phone, account_numbers, premise_ids, language,
                                  timezone, state, outcome, updated_at)
    SELECT $1, d.phone, d.account_numbers, d.premise_ids, d.language, d.timezone,
           CASE WHEN d.reason IS NULL THEN 'pending' ELSE 'excluded' END, d.reason, $3
    FROM decided d
    ORDER BY d.phone
    RETURNING state, outcome
)
SELECT coalesce(outcome, '') AS outcome, count(*) AS targets
FROM written GROUP BY outcome;

-- name: survey_targets_counts
-- What a found campaign wrote: '' counts the numbers to call.
SELECT CASE WHEN state = 'excluded' THEN coalesce(outcome, '') ELSE '' END AS outcome,
       count(*) AS targets
FROM campaign_targets WHERE campaign_id = $1 GROUP BY 1;

-- name: survey_definition
SELECT definition FROM surveys WHERE id = $1;

-- name: survey_definitions
SELECT id, definition FROM surveys ORDER BY id;

-- name: survey_definition_put
-- Whether the row is new (an update's xmax is its own transaction's).
INSERT INTO surveys (id, definition, updated_at, updated_by) VALUES ($1, $2, $3, $4)
ON CONFLICT (id) DO UPDATE SET definition = EXCLUDED.definition,
                               updated_at = EXCLUDED.updated_at,
                               updated_by = EXCLUDED.updated_by
RETURNING xmax = 0 AS created;

-- name: survey_calls
-- Every survey call: a target of a survey campaign called at least once, one row each, of
-- the survey $1 (NULL: every survey) and the outage $2 (its OMS id; NULL: every outage).
-- Reached: a person answered (a completed call no machine answered), or an answer was
-- given. Its answers and comments are those of any of its calls (a later call's answer to a
-- question stands).
WITH chosen AS (
    SELECT c.id, c.outage_id, c.spec -> 'message' -> 'variables' ->> 'survey' AS survey
    FROM campaigns c
    WHERE c.kind = 'survey'
      AND ($1::text IS NULL OR c.spec -> 'message' -> 'variables' ->> 'survey' = $1)
      AND ($2::text IS NULL
           OR c.outage_id = (SELECT o.id FROM outages o WHERE o.oms_id = $2))
), called AS (
    SELECT ch.survey, ch.id AS campaign_id, o.oms_id AS outage_id, t.id AS target_id,
           t.phone, t.account_numbers, t.language
    FROM chosen ch
    JOIN campaign_targets t ON t.campaign_id = ch.id
    LEFT JOIN outages o ON o.id = ch.outage_id
    WHERE t.attempts > 0
)
SELECT cd.survey, cd.campaign_id, cd.outage_id, cd.target_id, cd.phone, cd.account_numbers,
       cd.language,
       (SELECT max(coalesce(a.placed_at, a.created_at)) FROM call_attempts a
        WHERE a.target_id = cd.target_id) AS called_at,
       EXISTS (SELECT FROM call_attempts a
               WHERE a.target_id = cd.target_id AND a.status = 'completed'
                 AND coalesce(a.answered_by, '') NOT LIKE 'machine%'
                 AND coalesce(a.answered_by, '') <> 'fax') AS answered,
       coalesce((SELECT jsonb_object_agg(x.question, x.value) FROM (
                     SELECT DISTINCT ON (s.question) s.question, s.value
                     FROM call_attempts a JOIN survey_answers s ON s.attempt_id = a.id
                     WHERE a.target_id = cd.target_id
                     ORDER BY s.question, s.answered_at DESC, a.id DESC) x),
                '{}'::jsonb) AS answers,
       (SELECT max(sc.duration_s) FROM call_attempts a
        JOIN survey_comments sc ON sc.attempt_id = a.id
        WHERE a.target_id = cd.target_id) AS comment_s,
       EXISTS (SELECT FROM call_attempts a JOIN survey_callbacks cb ON cb.attempt_id = a.id
               WHERE a.target_id = cd.target_id) AS callback
FROM called cd
ORDER BY cd.campaign_id, called_at, cd.target_id;

-- name: survey_callbacks_list
-- The call-back list, oldest request first ($1: only those not handled yet).
SELECT cb.id, cb.campaign_id, o.oms_id AS outage_id, cb.phone, cb.account_numbers,
       cb.requested_at, cb.handled_at, cb.handled_by
FROM survey_callbacks cb
LEFT JOIN outages o ON o.id = cb.outage_id
WHERE NOT $1::boolean OR cb.handled_at IS NULL
ORDER BY cb.requested_at, cb.id
LIMIT $2;

-- name: survey_callback_handled
-- Marked once: handling it again keeps who handled it first, and when.
WITH marked AS (
    UPDATE survey_callbacks SET handled_at = $2, handled_by = $3
    WHERE id = $1 AND handled_at IS NULL
    RETURNING id
)
SELECT cb.id, cb.campaign_id, o.oms_id AS outage_id, cb.phone, cb.account_numbers,
       cb.requested_at,
       CASE WHEN m.id IS NULL THEN cb.handled_at ELSE $2 END AS handled_at,
       CASE WHEN m.id IS NULL THEN cb.handled_by ELSE $3 END AS handled_by
FROM survey_callbacks cb
LEFT JOIN outages o ON o.id = cb.outage_id
LEFT JOIN marked m ON m.id = cb.id
WHERE cb.id = $1;
