-- name: console_calls_per_bucket
-- Calls placed since $2 in buckets of $3 seconds (0 the oldest), for the campaign page's
-- chart; read through call_attempts_placed_idx (campaign_id, placed_at).
SELECT floor(extract(epoch FROM a.placed_at - $2::timestamptz) / $3::float8)::integer AS bucket,
       count(*) AS calls
FROM call_attempts a
WHERE a.campaign_id = $1 AND a.placed_at > $2 AND a.placed_at <= $4
GROUP BY 1 ORDER BY 1;

-- name: console_waiting
-- Numbers waiting for a time still to come: retries (tried before) and numbers never tried
-- that were outside their calling window, each with the first of their due times. Read
-- from the due index, which holds only pending targets with a due time.
SELECT count(*) FILTER (WHERE t.attempts > 0) AS retries,
       min(t.next_attempt_at) FILTER (WHERE t.attempts > 0) AS next_retry_at,
       count(*) FILTER (WHERE t.attempts = 0) AS out_of_window,
       min(t.next_attempt_at) FILTER (WHERE t.attempts = 0) AS next_window_at
FROM campaign_targets t
WHERE t.campaign_id = $1 AND t.state = 'pending' AND t.next_attempt_at > $2;

-- name: console_retries_due
-- When the retries waiting fall due, by the minute: the first $3 minutes that have any.
SELECT date_trunc('minute', t.next_attempt_at) AS due_at, count(*) AS targets
FROM campaign_targets t
WHERE t.campaign_id = $1 AND t.state = 'pending' AND t.next_attempt_at > $2 AND t.attempts > 0
GROUP BY 1 ORDER BY 1 LIMIT $3;
