-- name: audio_get
SELECT key, kind, engine, voice, language, text, duration_ms, size_bytes FROM audio_cache
WHERE key = $1;

-- name: audio_put
-- Indexes new audio and records a use of known audio, at most once an hour per key: serving
-- a prompt must not turn into a write per call. Audio made while the database was away is
-- indexed by its first use after.
INSERT INTO audio_cache
    (key, kind, engine, voice, language, text, duration_ms, size_bytes, created_at, last_used_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)
ON CONFLICT (key) DO UPDATE SET last_used_at = EXCLUDED.last_used_at
WHERE audio_cache.last_used_at < EXCLUDED.last_used_at - interval '1 hour';
