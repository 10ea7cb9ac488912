-- Issue 26: usage_logs partitioned by UTC month, and a daily layer of rollups beside the hourly one.
-- Written generically, so columns, indexes and triggers that earlier migrations (0014 included) put on
-- usage_logs or added as usage_hourly* tables follow without this file naming them.
-- The whole migration runs in one transaction (drizzle's migrator): the gateway's inserts wait on the
-- ledger's lock and nothing is lost or doubled; rows are copied BEFORE the triggers exist on the new
-- table, so the rollups (which already hold those rows) are not counted twice.
--
-- 1. Every non-internal trigger and index of the ledger as it stands, to re-create them on the new table.
CREATE TABLE tollgate_migration_0015 AS
  SELECT 'trigger'::text AS kind, t.tgname::text AS name, pg_get_triggerdef(t.oid) AS definition
  FROM pg_trigger t WHERE t.tgrelid = 'usage_logs'::regclass AND NOT t.tgisinternal
  UNION ALL
  SELECT 'index', c.relname::text, pg_get_indexdef(i.indexrelid)
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
  WHERE i.indrelid = 'usage_logs'::regclass AND NOT i.indisprimary;
--> statement-breakpoint
ALTER TABLE usage_logs RENAME TO usage_logs_unpartitioned;
--> statement-breakpoint
ALTER SEQUENCE usage_logs_id_seq RENAME TO usage_logs_unpartitioned_id_seq;
--> statement-breakpoint
CREATE TABLE usage_logs (LIKE usage_logs_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING IDENTITY
  INCLUDING GENERATED INCLUDING COMMENTS) PARTITION BY RANGE (created_at);
--> statement-breakpoint
-- A row dated in a month without its partition (the gateway down across a month's start, a restore, a
-- clock far off) still commits here; tollgate_ensure_usage_partition moves such rows into their month.
CREATE TABLE usage_logs_default PARTITION OF usage_logs DEFAULT;
--> statement-breakpoint
-- The partition of the UTC month holding `month`: created if missing (true), with any rows of that
-- month moved out of the default partition in the same transaction. Statement triggers of usage_logs do
-- not fire on statements naming a partition, so the move leaves the rollups and spend as they are.
CREATE FUNCTION tollgate_ensure_usage_partition(month timestamptz) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
  lo timestamptz := date_trunc('month', month AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
  hi timestamptz := (date_trunc('month', month AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC';
  part text := 'usage_logs_' || to_char(lo AT TIME ZONE 'UTC', '"y"YYYY"m"MM');
BEGIN
  IF to_regclass(part) IS NOT NULL THEN RETURN false; END IF;
  -- replicas creating the same month take turns; the second finds it made
  PERFORM pg_advisory_xact_lock(7301115);
  IF to_regclass(part) IS NOT NULL THEN RETURN false; END IF;
  IF EXISTS (SELECT 1 FROM usage_logs_default WHERE created_at >= lo AND created_at < hi) THEN
    EXECUTE format('CREATE TABLE %I (LIKE usage_logs INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part);
    EXECUTE format('INSERT INTO %I SELECT * FROM usage_logs_default WHERE created_at >= $1 AND created_at < $2', part)
      USING lo, hi;
    DELETE FROM usage_logs_default WHERE created_at >= lo AND created_at < hi;
    EXECUTE format('ALTER TABLE usage_logs ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', part, lo, hi);
  ELSE
    EXECUTE format('CREATE TABLE %I PARTITION OF usage_logs FOR VALUES FROM (%L) TO (%L)', part, lo, hi);
  END IF;
  RETURN true;
END
$$;
--> statement-breakpoint
-- 2. A partition per month the ledger holds, this month and the next three, then the rows (ids kept).
DO $$
DECLARE m timestamptz;
BEGIN
  FOR m IN
    SELECT generate_series(
      date_trunc('month', least(coalesce(min(created_at), now()), now()) AT TIME ZONE 'UTC'),
      date_trunc('month', greatest(coalesce(max(created_at), now()), now() + interval '3 months') AT TIME ZONE 'UTC'),
      interval '1 month') AT TIME ZONE 'UTC'
    FROM usage_logs_unpartitioned
  LOOP
    PERFORM tollgate_ensure_usage_partition(m);
  END LOOP;
END
$$;
--> statement-breakpoint
INSERT INTO usage_logs OVERRIDING SYSTEM VALUE SELECT * FROM usage_logs_unpartitioned;
--> statement-breakpoint
SELECT setval(pg_get_serial_sequence('usage_logs', 'id'), s.last_value, s.is_called)
FROM usage_logs_unpartitioned_id_seq s;
--> statement-breakpoint
DROP TABLE usage_logs_unpartitioned;
--> statement-breakpoint
-- 3. Keys: a unique key of a partitioned table includes the partition key. created_at is the request's
-- own start time, the same on a spool's replay, so a replayed row still collides with itself.
ALTER TABLE usage_logs ADD CONSTRAINT usage_logs_pkey PRIMARY KEY (id, created_at);
--> statement-breakpoint
CREATE UNIQUE INDEX usage_logs_request_id ON usage_logs (request_id, created_at);
--> statement-breakpoint
DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT definition FROM tollgate_migration_0015 WHERE kind = 'index' AND name <> 'usage_logs_request_id' LOOP
    EXECUTE r.definition;
  END LOOP;
  -- after the copy: the rollups already hold every copied row
  FOR r IN SELECT definition FROM tollgate_migration_0015 WHERE kind = 'trigger' ORDER BY name LOOP
    EXECUTE r.definition;
  END LOOP;
END
$$;
--> statement-breakpoint
DROP TABLE tollgate_migration_0015;
--> statement-breakpoint
CREATE STATISTICS IF NOT EXISTS usage_logs_utc_day ON (date_trunc('day', created_at AT TIME ZONE 'UTC')) FROM usage_logs;
--> statement-breakpoint
CREATE STATISTICS IF NOT EXISTS usage_logs_utc_hour ON (date_trunc('hour', created_at AT TIME ZONE 'UTC')) FROM usage_logs;
--> statement-breakpoint
-- 4. The daily layer: for every usage_hourly* table a usage_daily* twin with the same dimensions and sums,
-- `day` (the UTC day's start) in place of `hour`. Each is kept from its hourly table by statement
-- triggers on that table, so whatever changes an hour (rows, corrections, deletes) changes its day in
-- the same transaction; groups are upserted in key order, as the hourly triggers do.
DO $$
DECLARE
  src record;
  daily text;
  keys text[];
  dims text;
  sums text;
  cols text;
  upd text;
  summed text;
  negated text;
  idx record;
  signed text;
  body text;
BEGIN
  FOR src IN
    SELECT c.oid, c.relname::text AS name FROM pg_class c
    WHERE c.relkind = 'r' AND c.relname LIKE 'usage\_hourly%' AND c.relnamespace = current_schema()::regnamespace
    ORDER BY c.relname
  LOOP
    daily := replace(src.name, 'usage_hourly', 'usage_daily');
    SELECT array_agg(a.attname::text ORDER BY k.n) INTO keys
    FROM pg_index i, unnest(i.indkey) WITH ORDINALITY AS k(attnum, n), pg_attribute a
    WHERE i.indrelid = src.oid AND i.indisprimary AND a.attrelid = src.oid AND a.attnum = k.attnum;
    SELECT string_agg(quote_ident(x), ', ') INTO dims FROM unnest(keys) AS x WHERE x <> 'hour';
    SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum),
           string_agg(format('%1$I = d.%1$I + excluded.%1$I', a.attname), ', ' ORDER BY a.attnum)
      INTO cols, upd
    FROM pg_attribute a
    WHERE a.attrelid = src.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attname <> ALL (keys);
    SELECT string_agg(format('sum(%I)', a.attname), ', ' ORDER BY a.attnum),
           string_agg(format('-%1$I AS %1$I', a.attname), ', ' ORDER BY a.attnum)
      INTO summed, negated
    FROM pg_attribute a
    WHERE a.attrelid = src.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attname <> ALL (keys);
    EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', daily, src.name);
    EXECUTE format('ALTER TABLE %I RENAME COLUMN hour TO day', daily);
    EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I PRIMARY KEY (day, %s)', daily, daily || '_pk', dims);
    -- the hourly table's other indexes, hour read as day
    FOR idx IN
      SELECT ci.relname::text AS name,
             (SELECT string_agg(CASE WHEN a.attname = 'hour' THEN 'day' ELSE quote_ident(a.attname) END, ', ' ORDER BY k.n)
              FROM unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)
              JOIN pg_attribute a ON a.attrelid = src.oid AND a.attnum = k.attnum) AS columns
      FROM pg_index i JOIN pg_class ci ON ci.oid = i.indexrelid
      WHERE i.indrelid = src.oid AND NOT i.indisprimary
    LOOP
      EXECUTE format('CREATE INDEX %I ON %I (%s)', replace(idx.name, 'usage_hourly', 'usage_daily'), daily, idx.columns);
    END LOOP;
    -- the days of the hours already there
    EXECUTE format(
      'INSERT INTO %I (day, %s, %s) SELECT date_trunc(''day'', hour AT TIME ZONE ''UTC'') AT TIME ZONE ''UTC'', %s, %s
       FROM %I GROUP BY 1, %s',
      daily, dims, cols, dims,
      summed,
      src.name, dims);
    -- one upsert of (signed) sums per day and group, from a transition table
    signed := $f$
    INSERT INTO %1$I AS d (day, %2$s, %3$s)
    SELECT date_trunc('day', hour AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', %2$s, %4$s
    FROM (%5$s) AS c GROUP BY 1, %2$s ORDER BY 1, %2$s
    ON CONFLICT (day, %2$s) DO UPDATE SET %6$s;$f$;
    body := format(
      $f$CREATE FUNCTION %1$I() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
  IF TG_OP = 'INSERT' THEN %2$s
  ELSIF TG_OP = 'UPDATE' THEN %3$s
  ELSE %4$s
    DELETE FROM %5$I d USING (SELECT DISTINCT date_trunc('day', hour AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS day, %6$s FROM old_rows) AS o
    WHERE d.requests = 0 AND d.day = o.day AND %7$s;
  END IF;
  RETURN NULL;
END
$body$;$f$,
      'tollgate_rollup_' || daily,
      format(signed, daily, dims, cols,
        summed,
        format('SELECT hour, %s, %s FROM new_rows', dims, cols), upd),
      format(signed, daily, dims, cols,
        summed,
        format('SELECT hour, %1$s, %2$s FROM new_rows UNION ALL SELECT hour, %1$s, %3$s FROM old_rows', dims, cols,
          negated),
        upd),
      format(signed, daily, dims, cols,
        summed,
        format('SELECT hour, %s, %s FROM old_rows', dims, negated),
        upd),
      daily, dims,
      (SELECT string_agg(format('d.%1$I = o.%1$I', x), ' AND ') FROM unnest(keys) AS x WHERE x <> 'hour'));
    EXECUTE body;
    EXECUTE format('CREATE FUNCTION %I() RETURNS trigger LANGUAGE plpgsql AS $t$ BEGIN TRUNCATE %I; RETURN NULL; END $t$',
      'tollgate_truncate_' || daily, daily);
    EXECUTE format('CREATE TRIGGER %I AFTER INSERT ON %I REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION %I()',
      src.name || '_daily_insert', src.name, 'tollgate_rollup_' || daily);
    EXECUTE format('CREATE TRIGGER %I AFTER UPDATE ON %I REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION %I()',
      src.name || '_daily_update', src.name, 'tollgate_rollup_' || daily);
    EXECUTE format('CREATE TRIGGER %I AFTER DELETE ON %I REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION %I()',
      src.name || '_daily_delete', src.name, 'tollgate_rollup_' || daily);
    EXECUTE format('CREATE TRIGGER %I AFTER TRUNCATE ON %I FOR EACH STATEMENT EXECUTE FUNCTION %I()',
      src.name || '_daily_truncate', src.name, 'tollgate_truncate_' || daily);
  END LOOP;
END
$$;
