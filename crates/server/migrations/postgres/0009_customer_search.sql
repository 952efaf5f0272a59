-- Customer search (C2) without reading every row of the business: trigram GIN indexes
-- (pg_trgm, a contrib module shipped with PostgreSQL) serve `ILIKE '%text%'` on the name
-- and email (one expression, the same as store::customers::SEARCH_TEXT) and
-- `LIKE '%digits%'` on the E.164 phone.
--
-- `fastupdate = off`: each insert updates the index itself. With the default pending list,
-- every search would also read the up to 4 MB of entries not yet merged, and the insert
-- that fills the list would merge it all, a latency spike on customer create.
--
-- pg_trgm is a trusted extension: the database's owner may create it. It goes into the
-- schema `public` (or stays wherever it already is) and the operator class is named with
-- that schema, so servers whose search_path is another schema find it too. Where the
-- extension cannot be created (no contrib modules, no privilege) the indexes are skipped
-- with a warning: search still answers the same, by scanning the business's rows.
DO $$
DECLARE
    ext_schema TEXT;
BEGIN
    SELECT n.nspname INTO ext_schema
      FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
     WHERE e.extname = 'pg_trgm';
    IF ext_schema IS NULL THEN
        BEGIN
            CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;
        EXCEPTION
            -- Another connection created it at the same moment: it is there now.
            WHEN unique_violation OR duplicate_object THEN NULL;
            WHEN OTHERS THEN
                RAISE WARNING 'pg_trgm is not available (%): customer search will scan', SQLERRM;
        END;
        SELECT n.nspname INTO ext_schema
          FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
         WHERE e.extname = 'pg_trgm';
    END IF;
    IF ext_schema IS NOT NULL THEN
        EXECUTE format($sql$CREATE INDEX customers_search_trgm ON customers USING gin
            ((COALESCE(name, '') || ' ' || COALESCE(email, '')) %I.gin_trgm_ops)
            WITH (fastupdate = off)$sql$, ext_schema);
        EXECUTE format($sql$CREATE INDEX customers_phone_trgm ON customers USING gin
            (phone %I.gin_trgm_ops) WITH (fastupdate = off)$sql$, ext_schema);
    END IF;
END
$$;
