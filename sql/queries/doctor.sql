-- name: doctor_server_version
SHOW server_version;

-- name: doctor_migrations_table
SELECT to_regclass('schema_migrations') IS NOT NULL;

-- name: doctor_session
-- Which server session answers: PostgreSQL gives every connection its own backend, so two
-- connections open at once that get the same answer share one through a pooler.
SELECT pg_backend_pid(), pg_postmaster_start_time();
