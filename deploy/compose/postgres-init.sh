#!/bin/sh
# Runs once, on the first start of an empty PostgreSQL volume (docker-entrypoint-initdb.d):
# an unprivileged login role `rapport` and one database per service, owned by it. No service reads
# another's database; the gateway has none.
set -eu
: "${RAPPORT_DB_PASSWORD:?RAPPORT_DB_PASSWORD must be set}"

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    --set=pw="$RAPPORT_DB_PASSWORD" <<'SQL'
CREATE ROLE rapport LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'pw';
SQL

for service in identity listening profiles engagement metrics; do
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
        -c "CREATE DATABASE rapport_${service} OWNER rapport" \
        -c "REVOKE ALL ON DATABASE rapport_${service} FROM PUBLIC"
done
