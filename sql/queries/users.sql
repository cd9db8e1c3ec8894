-- name: user_insert
-- Nothing returned when the username is taken.
INSERT INTO users (username, role, password_hash, timezone, created_at)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (username) DO NOTHING
RETURNING id, username, role, timezone, created_at, disabled_at;

-- name: user_credentials
SELECT id, username, role, timezone, created_at, disabled_at, password_hash
FROM users WHERE username = $1;

-- name: user_list
SELECT id, username, role, timezone, created_at, disabled_at FROM users ORDER BY username;

-- name: user_disable
-- A disabled user's sessions end with it: the console refuses them from the next request on.
WITH disabled AS (
    UPDATE users SET disabled_at = $2 WHERE username = $1 AND disabled_at IS NULL
    RETURNING id, username, role, timezone, created_at, disabled_at
), ended AS (
    UPDATE console_sessions s SET ended_at = $2
    FROM disabled
    WHERE s.user_id = disabled.id AND s.ended_at IS NULL
)
SELECT id, username, role, timezone, created_at, disabled_at FROM disabled;

-- name: session_insert
-- Sessions past their end are kept a week (who was signed in when), then deleted here.
WITH old AS (
    DELETE FROM console_sessions WHERE expires_at < $4::timestamptz - interval '7 days'
)
INSERT INTO console_sessions (id, user_id, csrf_token, created_at, last_seen_at, expires_at)
VALUES ($1, $2, $3, $4, $4, $5);

-- name: session_find
SELECT s.csrf_token, s.created_at AS session_created_at, s.last_seen_at, s.expires_at,
       s.ended_at, u.id, u.username, u.role, u.timezone, u.created_at, u.disabled_at
FROM console_sessions s JOIN users u ON u.id = s.user_id
WHERE s.id = $1 AND s.ended_at IS NULL AND u.disabled_at IS NULL;

-- name: session_touch
UPDATE console_sessions SET last_seen_at = $2
WHERE id = $1 AND ended_at IS NULL AND last_seen_at < $2;

-- name: session_end
UPDATE console_sessions SET ended_at = $2 WHERE id = $1 AND ended_at IS NULL;

-- name: signin_lock
-- Sign-in attempts are admitted one at a time across every instance (a few statements each),
-- so parallel guesses each see the ones before them.
SELECT pg_advisory_xact_lock(hashtext('outage_voice.signin'));

-- name: signin_limiting_failures
-- $1 username, $2 address, $3 now, $4 window (seconds), $5 the limit per username and
-- address together, $6 per username alone, $7 per address alone. For each key, the failure
-- that holds the count at its limit (the limit-th most recent in the window), NULL while the
-- count is under it: the key is free again once that failure leaves the window.
SELECT
    (SELECT at FROM signin_failures
     WHERE username = $1 AND address = $2 AND at > $3::timestamptz - make_interval(secs => $4)
     ORDER BY at DESC OFFSET $5 - 1 LIMIT 1) AS by_pair,
    (SELECT at FROM signin_failures
     WHERE username = $1 AND at > $3::timestamptz - make_interval(secs => $4)
     ORDER BY at DESC OFFSET $6 - 1 LIMIT 1) AS by_username,
    (SELECT at FROM signin_failures
     WHERE address = $2 AND at > $3::timestamptz - make_interval(secs => $4)
     ORDER BY at DESC OFFSET $7 - 1 LIMIT 1) AS by_address;

-- name: signin_failure_insert
-- Failures out of the window count for nothing: they are deleted as new ones are written.
WITH aged AS (
    DELETE FROM signin_failures WHERE at <= $3::timestamptz - make_interval(secs => $4)
)
INSERT INTO signin_failures (username, address, at) VALUES ($1, $2, $3);

-- name: signin_failure_forget
-- The attempt recorded before its password was checked, taken back when the password was
-- right (one row: earlier failures still count).
DELETE FROM signin_failures
WHERE ctid = (SELECT ctid FROM signin_failures
              WHERE username = $1 AND address = $2 AND at = $3 LIMIT 1);
