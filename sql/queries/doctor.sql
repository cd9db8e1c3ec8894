-- name: doctor_server_version
SHOW server_version;

-- name: doctor_migrations_table
SELECT to_regclass('schema_migrations') IS NOT NULL;
