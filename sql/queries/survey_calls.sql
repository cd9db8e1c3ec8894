-- An answered survey call: what it asks, and what the customer gave, stored as given.

-- name: survey_call_context
-- The attempt of a survey campaign, with its survey's stored definition (NULL: the built-in
-- survey, or one since deleted). Not the spec's audience: only the message is read.
SELECT a.id, a.target_id, a.campaign_id, a.phone, t.language, t.account_numbers,
       c.outage_id, c.spec -> 'message' -> 'variables' ->> 'survey' AS survey_id,
       s.definition
FROM call_attempts a
JOIN campaign_targets t ON t.campaign_id = a.campaign_id AND t.id = a.target_id
JOIN campaigns c ON c.id = a.campaign_id
LEFT JOIN surveys s ON s.id = c.spec -> 'message' -> 'variables' ->> 'survey'
WHERE a.id = $1 AND c.kind = 'survey';

-- name: survey_answer_save
-- The last answer given stands (a question asked again after a wrong key, a webhook the
-- carrier sent twice).
INSERT INTO survey_answers (attempt_id, question, campaign_id, value, answered_at)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (attempt_id, question) DO UPDATE
SET value = EXCLUDED.value, answered_at = EXCLUDED.answered_at;

-- name: survey_comment_save
-- A repeated action for the same recording keeps what was fetched; another recording for
-- the same question replaces it, to be fetched afresh.
INSERT INTO survey_comments
    (attempt_id, question, campaign_id, recording_url, duration_s, recorded_at)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (attempt_id, question) DO UPDATE
SET recording_url = EXCLUDED.recording_url, duration_s = EXCLUDED.duration_s,
    recorded_at = EXCLUDED.recorded_at, audio = NULL, content_type = NULL, fetched_at = NULL,
    fetch_attempts = 0
WHERE survey_comments.recording_url <> EXCLUDED.recording_url;

-- name: survey_callback_save
INSERT INTO survey_callbacks
    (attempt_id, campaign_id, outage_id, phone, account_numbers, requested_at)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (attempt_id) DO NOTHING;

-- name: survey_opt_out
-- Surveys only: opted_out_at (every campaign call) is left as it is.
INSERT INTO phones (e164, survey_opted_out_at) VALUES ($1, $2)
ON CONFLICT (e164) DO UPDATE
SET survey_opted_out_at = coalesce(phones.survey_opted_out_at, EXCLUDED.survey_opted_out_at);

-- name: survey_comments_unfetched
-- Comments whose audio is not kept yet, oldest first: recorded before $1 (a fresh one is
-- being fetched by the instance that took it), tried fewer than $2 times.
SELECT attempt_id, question, recording_url
FROM survey_comments
WHERE audio IS NULL AND recorded_at < $1 AND fetch_attempts < $2
ORDER BY recorded_at
LIMIT $3;

-- name: survey_comment_keep
UPDATE survey_comments
SET audio = $4, content_type = $5, fetched_at = $6, fetch_attempts = fetch_attempts + 1
WHERE attempt_id = $1 AND question = $2 AND recording_url = $3 AND audio IS NULL;

-- name: survey_comment_failed
UPDATE survey_comments SET fetch_attempts = fetch_attempts + 1
WHERE attempt_id = $1 AND question = $2 AND recording_url = $3 AND audio IS NULL;

-- name: survey_comment_audio
SELECT duration_s, audio, content_type FROM survey_comments
WHERE attempt_id = $1 AND question = $2;

-- name: survey_comments_list
-- Newest first, for supervisors to listen to: $1 an outage (the OMS's id), $2 a survey, or
-- NULL for any; a campaign made without naming its survey asked the built-in one.
SELECT c.attempt_id, c.question, c.campaign_id, c.duration_s, c.recorded_at,
       c.audio IS NOT NULL AS kept, a.phone, o.oms_id,
       coalesce(m.spec -> 'message' -> 'variables' ->> 'survey', $4) AS survey
FROM survey_comments c
JOIN call_attempts a ON a.id = c.attempt_id
JOIN campaigns m ON m.id = c.campaign_id
LEFT JOIN outages o ON o.id = m.outage_id
WHERE ($1::text IS NULL OR o.oms_id = $1)
  AND ($2::text IS NULL OR coalesce(m.spec -> 'message' -> 'variables' ->> 'survey', $4) = $2)
ORDER BY c.recorded_at DESC, c.attempt_id DESC, c.question
LIMIT $3;
