-- name: audio_get
SELECT key, kind, engine, voice, language, text, duration_ms, size_bytes FROM audio_cache
WHERE key = $1;

-- name: audio_put
INSERT INTO audio_cache
    (key, kind, engine, voice, language, text, duration_ms, size_bytes, created_at, last_used_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)
ON CONFLICT (key) DO NOTHING;

-- name: audio_touch
-- At most once an hour per key: serving a prompt must not turn into a write per call.
UPDATE audio_cache SET last_used_at = $2
WHERE key = $1 AND last_used_at < $2::timestamptz - interval '1 hour';
