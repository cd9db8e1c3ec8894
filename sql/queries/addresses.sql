-- name: addresses_all
-- Every service address and the language it is spoken in: what warming prompt audio after an
-- import reads (streets are told apart in the domain, not here).
SELECT DISTINCT service_address, language FROM premises;
