-- name: token_insert
INSERT INTO api_tokens (name, role, token_hash, created_at) VALUES ($1, $2, $3, $4) RETURNING id;

-- name: token_find
-- Touching last_used_at at most once a minute keeps authentication from writing on every request.
WITH found AS (
    SELECT id, name, role, last_used_at FROM api_tokens
    WHERE token_hash = $1 AND revoked_at IS NULL
), touched AS (
    UPDATE api_tokens t SET last_used_at = $2
    FROM found
    WHERE t.id = found.id AND (found.last_used_at IS NULL OR found.last_used_at < $2::timestamptz - interval '1 minute')
)
SELECT id, name, role FROM found;

-- name: token_list
-- $1: include revoked tokens. Never the hash: nothing that lists tokens needs it.
SELECT id, name, role, created_at, last_used_at, revoked_at FROM api_tokens
WHERE $1 OR revoked_at IS NULL
ORDER BY id;

-- name: token_revoke
UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL
RETURNING id, name, role, created_at, last_used_at, revoked_at;
