-- Issue 26: summaries over weeks of a busy ledger read too many rollup rows (at 10 M rows, a 30-day
-- summary by key read 162 k rows of usage_daily, by hour 139 k of usage_hourly_routes). A UTC day that
-- is over is "closed": a maintenance run (tollgate_close_usage_day for each of
-- tollgate_unclosed_usage_days, from the gateway's hourly ledger check) sums it once more, coarser than any rollup, into usage_closed_totals (day, endpoint, status),
-- usage_closed_hours (hour, endpoint, status), usage_closed_tags (day, tag) and usage_closed_keys
-- (day, key), from the rollups themselves, and lists the day in usage_closed_days. The recorder never writes these tables.
--
-- Exactness: a report reads a day from the closed tables only while usage_closed_days lists it, in the
-- same snapshot. Every write to a rollup row of a day that is over (a late or replayed row, a
-- correction, an update or delete of rows), by the clock at the write, removes the day from the list in
-- its own transaction (the row triggers below), so reports fall back to the rollups until the next run
-- sums the day again. The run holds SHARE locks on the rollups it reads while it sums a day: no write
-- to them is in flight, so none it cannot see commits after it (a write begun before the day was over
-- has committed before the run starts; one after it unlists the day). It takes them in the order every
-- writer takes the rollups, so it deadlocks none; the recorder waits for one day's sums at most.
-- A truncate of the ledger empties these tables with the rollups (tollgate_rollup_truncate). Archive,
-- restore and the partition moves touch no rollup, so they leave a closed day as it is.
CREATE TABLE usage_closed_days (day timestamptz PRIMARY KEY);
--> statement-breakpoint
CREATE TABLE usage_closed_totals (
  day timestamptz NOT NULL, endpoint text NOT NULL, status text NOT NULL,
  requests bigint NOT NULL, prompt_tokens bigint NOT NULL, completion_tokens bigint NOT NULL,
  total_tokens bigint NOT NULL, cost_usd numeric NOT NULL, unpriced_requests bigint NOT NULL,
  charge_usd numeric DEFAULT 0 NOT NULL,
  CONSTRAINT usage_closed_totals_pk PRIMARY KEY (day, endpoint, status)
);
--> statement-breakpoint
CREATE TABLE usage_closed_keys (
  day timestamptz NOT NULL, api_key_id text NOT NULL,
  requests bigint NOT NULL, prompt_tokens bigint NOT NULL, completion_tokens bigint NOT NULL,
  total_tokens bigint NOT NULL, cost_usd numeric NOT NULL, unpriced_requests bigint NOT NULL,
  charge_usd numeric DEFAULT 0 NOT NULL,
  CONSTRAINT usage_closed_keys_pk PRIMARY KEY (day, api_key_id)
);
--> statement-breakpoint
CREATE TABLE usage_closed_tags (
  day timestamptz NOT NULL, tag text NOT NULL,
  requests bigint NOT NULL, prompt_tokens bigint NOT NULL, completion_tokens bigint NOT NULL,
  total_tokens bigint NOT NULL, cost_usd numeric NOT NULL, unpriced_requests bigint NOT NULL,
  charge_usd numeric DEFAULT 0 NOT NULL,
  CONSTRAINT usage_closed_tags_pk PRIMARY KEY (day, tag)
);
--> statement-breakpoint
-- one tag's days (a report on one tag), as usage_daily_tags_tag
CREATE INDEX usage_closed_tags_tag ON usage_closed_tags (tag, day);
--> statement-breakpoint
CREATE TABLE usage_closed_hours (
  hour timestamptz NOT NULL, day timestamptz NOT NULL, endpoint text NOT NULL, status text NOT NULL,
  requests bigint NOT NULL, prompt_tokens bigint NOT NULL, completion_tokens bigint NOT NULL,
  total_tokens bigint NOT NULL, cost_usd numeric DEFAULT 0 NOT NULL, unpriced_requests bigint NOT NULL,
  charge_usd numeric DEFAULT 0 NOT NULL,
  CONSTRAINT usage_closed_hours_pk PRIMARY KEY (hour, endpoint, status)
);
--> statement-breakpoint
-- The days that are over and not listed: what a run has to close (read without a lock).
CREATE FUNCTION tollgate_unclosed_usage_days() RETURNS SETOF timestamptz LANGUAGE sql STABLE AS $$
  SELECT r.day FROM (
    SELECT DISTINCT day FROM usage_daily_routes WHERE day <= clock_timestamp() - interval '24 hours'
  ) AS r
  WHERE NOT EXISTS (SELECT 1 FROM usage_closed_days c WHERE c.day = r.day)
  ORDER BY r.day DESC
$$;
--> statement-breakpoint
-- Sums day `d` into the closed tables and lists it; false when it is not over or already listed.
CREATE FUNCTION tollgate_close_usage_day(d timestamptz) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  LOCK TABLE usage_daily, usage_hourly_routes, usage_daily_routes, usage_daily_tags IN SHARE MODE;
  IF d > clock_timestamp() - interval '24 hours' OR EXISTS (SELECT 1 FROM usage_closed_days c WHERE c.day = d) THEN
    RETURN false;
  END IF;
  -- what an earlier run summed before the day was written again
  DELETE FROM usage_closed_totals WHERE day = d;
  DELETE FROM usage_closed_keys WHERE day = d;
  DELETE FROM usage_closed_tags WHERE day = d;
  DELETE FROM usage_closed_hours WHERE day = d;
  INSERT INTO usage_closed_totals
  SELECT day, endpoint, status, sum(requests), sum(prompt_tokens), sum(completion_tokens), sum(total_tokens),
         sum(cost_usd), sum(unpriced_requests), sum(charge_usd)
  FROM usage_daily_routes WHERE day = d GROUP BY 1, 2, 3;
  INSERT INTO usage_closed_keys
  SELECT day, api_key_id, sum(requests), sum(prompt_tokens), sum(completion_tokens), sum(total_tokens),
         sum(cost_usd), sum(unpriced_requests), sum(charge_usd)
  FROM usage_daily WHERE day = d GROUP BY 1, 2;
  INSERT INTO usage_closed_tags
  SELECT day, tag, sum(requests), sum(prompt_tokens), sum(completion_tokens), sum(total_tokens),
         sum(cost_usd), sum(unpriced_requests), sum(charge_usd)
  FROM usage_daily_tags WHERE day = d GROUP BY 1, 2;
  INSERT INTO usage_closed_hours
  SELECT hour, d, endpoint, status, sum(requests), sum(prompt_tokens), sum(completion_tokens), sum(total_tokens),
         sum(cost_usd), sum(unpriced_requests), sum(charge_usd)
  FROM usage_hourly_routes WHERE hour >= d AND hour < d + interval '1 day' GROUP BY 1, 2, 3, 4;
  INSERT INTO usage_closed_days (day) VALUES (d);
  RETURN true;
END
$$;
--> statement-breakpoint
-- A write to a closed day's rollups unlists the day (see above).
CREATE FUNCTION tollgate_reopen_usage_day() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    DELETE FROM usage_closed_days WHERE day = OLD.day;
  ELSE
    DELETE FROM usage_closed_days WHERE day = NEW.day;
  END IF;
  RETURN NULL;
END
$$;
--> statement-breakpoint
DO $$
DECLARE
  source text;
BEGIN
  -- every closed table is summed from one of these (usage_closed_hours from usage_hourly_routes, whose
  -- every write comes with one to usage_daily_routes for the same day)
  FOREACH source IN ARRAY ARRAY['usage_daily', 'usage_daily_tags', 'usage_daily_routes'] LOOP
    EXECUTE format($t$CREATE TRIGGER %1$s_reopen_written AFTER INSERT OR UPDATE ON %1$s FOR EACH ROW
      WHEN (NEW.day <= clock_timestamp() - interval '24 hours')
      EXECUTE FUNCTION tollgate_reopen_usage_day()$t$, source);
    EXECUTE format($t$CREATE TRIGGER %1$s_reopen_deleted AFTER DELETE ON %1$s FOR EACH ROW
      WHEN (OLD.day <= clock_timestamp() - interval '24 hours')
      EXECUTE FUNCTION tollgate_reopen_usage_day()$t$, source);
  END LOOP;
END
$$;
--> statement-breakpoint
-- A truncate of the ledger empties the closed days with the rollups (0021's list, plus these).
CREATE OR REPLACE FUNCTION tollgate_rollup_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  TRUNCATE usage_hourly, usage_hourly_routes, usage_hourly_users, usage_hourly_tags,
           usage_daily, usage_daily_routes, usage_daily_users, usage_daily_tags,
           usage_closed_days, usage_closed_totals, usage_closed_hours, usage_closed_tags, usage_closed_keys;
  RETURN NULL;
END
$$;
