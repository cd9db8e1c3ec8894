-- Retention: what `outage-voice prune` removes, a batch per statement (each its own short
-- transaction), so a large prune never holds its locks for long. $1 is always the cutoff.

-- name: prune_inbound_calls
-- Inbound call records that started and ended before the cutoff ($1), at most $2 of them
-- (NULL: all), counted only when $3 (a dry run). Kept: calls since the oldest open outage
-- began (its acknowledgement and all-clear rules read who called about it), and calls with a
-- call-back request still to fulfil.
WITH doomed AS (
    SELECT i.call_sid FROM inbound_calls i
    WHERE i.started_at < $1
      AND coalesce(i.ended_at, i.last_step_at) < $1
      AND i.started_at < (SELECT coalesce(min(o.created_at), 'infinity') FROM outages o
                          WHERE o.active)
      AND NOT EXISTS (SELECT FROM callback_requests r
                      WHERE r.call_sid = i.call_sid AND r.fulfilled_at IS NULL)
    ORDER BY i.started_at
    LIMIT $2
), gone AS (
    DELETE FROM inbound_calls i USING doomed d
    WHERE NOT $3::boolean AND i.call_sid = d.call_sid
    RETURNING 1
)
SELECT CASE WHEN $3::boolean THEN (SELECT count(*) FROM doomed)
            ELSE (SELECT count(*) FROM gone) END;

-- name: prune_finished_campaigns
-- Campaigns whose targets and calls may go: completed or cancelled before the cutoff ($1),
-- a survey's before $2 too (its calls decide who may be surveyed again), about no outage or
-- one over and unchanged since the cutoff with nothing left to schedule (the automation's
-- rules read an outage's earlier calls, and a reopened outage is cleared again), and with no
-- survey call-back still to handle. The campaign rows themselves stay: they are small, and
-- a replayed outage event finds its campaign by them.
SELECT c.id FROM campaigns c
LEFT JOIN outages o ON o.id = c.outage_id
WHERE c.state IN ('completed', 'cancelled') AND c.finished_at < $1
  AND (c.kind <> 'survey' OR c.finished_at < $2)
  AND (c.outage_id IS NULL
       OR (NOT o.active AND o.updated_at < $1
           AND NOT EXISTS (SELECT FROM outage_schedule s
                           WHERE s.outage_id = o.id AND s.state = 'pending')))
  AND NOT EXISTS (SELECT FROM survey_callbacks cb
                  WHERE cb.campaign_id = c.id AND cb.handled_at IS NULL)
  AND EXISTS (SELECT FROM campaign_targets t WHERE t.campaign_id = c.id)
ORDER BY c.id;

-- name: prune_campaign_rows_count
-- What removing these campaigns' ($1) targets and calls would remove, per table.
SELECT (SELECT count(*) FROM campaign_targets WHERE campaign_id = ANY($1::bigint[]))
           AS campaign_targets,
       (SELECT count(*) FROM call_attempts WHERE campaign_id = ANY($1::bigint[]))
           AS call_attempts,
       (SELECT count(*) FROM survey_answers WHERE campaign_id = ANY($1::bigint[]))
           AS survey_answers,
       (SELECT count(*) FROM survey_comments WHERE campaign_id = ANY($1::bigint[]))
           AS survey_comments,
       (SELECT count(*) FROM survey_callbacks WHERE campaign_id = ANY($1::bigint[]))
           AS survey_callbacks;

-- name: prune_campaign_attempts
-- A batch ($2) of a finished campaign's ($1) call attempts, with the survey answers,
-- comments and handled call-backs that hang off them.
WITH doomed AS (
    SELECT a.id FROM call_attempts a WHERE a.campaign_id = $1 LIMIT $2
), answers AS (
    DELETE FROM survey_answers s USING doomed d WHERE s.attempt_id = d.id RETURNING 1
), comments AS (
    DELETE FROM survey_comments s USING doomed d WHERE s.attempt_id = d.id RETURNING 1
), callbacks AS (
    DELETE FROM survey_callbacks s USING doomed d WHERE s.attempt_id = d.id RETURNING 1
), attempts AS (
    DELETE FROM call_attempts a USING doomed d WHERE a.id = d.id RETURNING 1
)
SELECT (SELECT count(*) FROM attempts) AS call_attempts,
       (SELECT count(*) FROM answers) AS survey_answers,
       (SELECT count(*) FROM comments) AS survey_comments,
       (SELECT count(*) FROM callbacks) AS survey_callbacks;

-- name: prune_campaign_targets
-- A batch ($2) of a finished campaign's ($1) targets, once its calls are gone.
WITH doomed AS (
    SELECT t.id FROM campaign_targets t WHERE t.campaign_id = $1 LIMIT $2
), gone AS (
    DELETE FROM campaign_targets t USING doomed d
    WHERE t.campaign_id = $1 AND t.id = d.id
    RETURNING 1
)
SELECT count(*) FROM gone;

-- name: prune_open_campaign_texts
-- The words of campaigns still to call (a custom message's text): their audio is kept.
SELECT DISTINCT spec -> 'message' ->> 'text' AS text FROM campaigns
WHERE state IN ('draft', 'running', 'paused') AND spec -> 'message' ->> 'text' IS NOT NULL;

-- name: prune_unused_audio
-- Indexed audio not used since the cutoff ($1), by key after $2, $3 at a time.
SELECT key, kind, language, text FROM audio_cache
WHERE last_used_at < $1 AND key > $2
ORDER BY key
LIMIT $3;

-- name: prune_audio_delete
-- Index rows of these keys ($1), unless used since the cutoff ($2) meanwhile.
WITH gone AS (
    DELETE FROM audio_cache WHERE key = ANY($1::text[]) AND last_used_at < $2 RETURNING 1
)
SELECT count(*) FROM gone;

-- name: prune_audio_recent
-- Which of these keys ($1) the index says were used since the cutoff ($2), on any instance.
SELECT key FROM audio_cache WHERE key = ANY($1::text[]) AND last_used_at >= $2;
