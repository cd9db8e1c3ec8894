-- The supervisor console: people who sign in, their sessions, the sign-in rate limit, and
-- what each running instance says of itself for the outage-line page.

CREATE TABLE users (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Stored lower-cased (domain.users.normalize_username), so "Ana" and "ana" are one person.
    username      text NOT NULL UNIQUE CHECK (username = lower(username)),
    role          text NOT NULL CHECK (role IN ('supervisor', 'viewer')),
    -- scrypt$n$r$p$salt_b64$hash_b64: never the password.
    password_hash text NOT NULL,
    -- An IANA zone the console shows times in; NULL: the utility's (OUTAGE_VOICE_TIMEZONE).
    timezone      text,
    created_at    timestamptz NOT NULL,
    disabled_at   timestamptz
);

CREATE TABLE console_sessions (
    -- SHA-256 of the cookie's random token: a stolen table opens no session.
    id           bytea PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users (id),
    csrf_token   text NOT NULL,
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    ended_at     timestamptz
);
CREATE INDEX console_sessions_user_idx ON console_sessions (user_id) WHERE ended_at IS NULL;

-- Failed sign-ins, counted per username and per client address over a sliding window; rows
-- older than the window are deleted as new failures are written.
CREATE TABLE signin_failures (
    username text NOT NULL,
    address  text NOT NULL,
    at       timestamptz NOT NULL
);
CREATE INDEX signin_failures_username_idx ON signin_failures (username, at);
CREATE INDEX signin_failures_address_idx ON signin_failures (address, at);
CREATE INDEX signin_failures_at_idx ON signin_failures (at);

-- Each running instance upserts its row every few seconds and deletes it when it stops.
CREATE TABLE instance_status (
    instance_id text PRIMARY KEY,
    host        text NOT NULL,
    pid         integer NOT NULL,
    started_at  timestamptz NOT NULL,
    seen_at     timestamptz NOT NULL,
    leader      boolean NOT NULL DEFAULT false,
    -- Its outage line is answering from the spool fallback (the database unreachable).
    degraded    boolean NOT NULL DEFAULT false,
    -- Caller reports waiting in its spool to be written.
    spool_depth integer NOT NULL DEFAULT 0,
    version     text NOT NULL,
    -- Carrier webhooks it answered per second over its last heartbeat's interval.
    webhooks_per_s real NOT NULL DEFAULT 0
);
CREATE INDEX instance_status_seen_idx ON instance_status (seen_at);

-- The outage-line page counts callers still in the menu every few seconds: only calls not
-- ended are in this index, so the count reads a handful of entries however busy the day.
CREATE INDEX inbound_calls_open_idx ON inbound_calls (last_step_at) WHERE ended_at IS NULL;
