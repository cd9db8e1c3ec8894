-- name: health_check
SELECT 1;
