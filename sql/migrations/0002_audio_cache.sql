-- Index of synthesized prompt audio. Files live under $OUTAGE_VOICE_HOME/audio, named by key:
-- the SHA-256 of (engine, voice, language, text) for a piece, or of its pieces' keys for a
-- whole message, so equal audio is made and stored once.
CREATE TABLE audio_cache (
    key          text COLLATE "C" PRIMARY KEY CHECK (key ~ '^[0-9a-f]{64}$'),
    kind         text NOT NULL CHECK (kind IN ('piece', 'message')),
    engine       text NOT NULL,
    voice        text NOT NULL,
    language     text NOT NULL,
    text         text NOT NULL,
    duration_ms  integer NOT NULL CHECK (duration_ms >= 0),
    size_bytes   integer NOT NULL CHECK (size_bytes >= 0),
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz NOT NULL
);
CREATE INDEX audio_cache_last_used_idx ON audio_cache (last_used_at);
