-- Issue 26: a summary by status for one tag (or by tag for one status) read the tag's rows of every day
-- in its range from usage_logs, because no rollup keeps a tag with a status (600-680 ms for 30 days at
-- 50 M rows). A closed day now also gets its sums per (tag, status) in usage_closed_tag_statuses, summed
-- once from the day's rows (with their corrections) when the day is closed, so such a report reads
-- raw rows only for the days not closed (today, a day written again) and its partial hours.
--
-- Summing a day of rows (~555 k at 50 M) takes a second or two: too long to hold the SHARE locks that
-- stop the recorder, so it is summed before them and kept only if no write to the day came in between:
--   1. tollgate_begin_close_usage_day(d) takes the SHARE locks (waiting out every write in flight, the
--      ones begun before the day was over included), lists d in usage_closing_days under a token (its
--      transaction's id), commits and returns the token;
--   2. tollgate_close_usage_day(d, token) sums d's rows without a lock, then takes the locks as before.
--      Every write to a day that is over removes it from usage_closing_days (the reopen triggers, as
--      they unlist it from usage_closed_days), and another run's step 1 replaces the token, so d still
--      listed there under the token means nothing wrote d since step 1: the rows just summed are the
--      day's. The sums must also equal the day's per-tag rollup: a month
--      archived (its rows dropped) sums short and is not taken.
-- usage_closed_days.tag_statuses says whether the day's tag-status sums were taken; a report reads them
-- only for days listed with it, and the rest of a closed day as before.
CREATE TABLE usage_closed_tag_statuses (
  day timestamptz NOT NULL, tag text NOT NULL, status text NOT NULL,
  requests bigint NOT NULL, prompt_tokens bigint NOT NULL, completion_tokens bigint NOT NULL,
  total_tokens bigint NOT NULL, cost_usd numeric NOT NULL, unpriced_requests bigint NOT NULL,
  charge_usd numeric DEFAULT 0 NOT NULL,
  CONSTRAINT usage_closed_tag_statuses_pk PRIMARY KEY (day, tag, status)
);
--> statement-breakpoint
-- one tag's days (a report on one tag), as usage_closed_tags_tag
CREATE INDEX usage_closed_tag_statuses_tag ON usage_closed_tag_statuses (tag, day);
--> statement-breakpoint
ALTER TABLE usage_closed_days ADD COLUMN tag_statuses boolean DEFAULT false NOT NULL;
--> statement-breakpoint
CREATE TABLE usage_closing_days (day timestamptz PRIMARY KEY, token bigint NOT NULL);
--> statement-breakpoint
-- 0022's, removing the day from usage_closing_days too.
CREATE OR REPLACE FUNCTION tollgate_reopen_usage_day() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  d timestamptz := CASE WHEN TG_OP = 'DELETE' THEN OLD.day ELSE NEW.day END;
BEGIN
  DELETE FROM usage_closed_days WHERE day = d;
  DELETE FROM usage_closing_days WHERE day = d;
  RETURN NULL;
END
$$;
--> statement-breakpoint
-- Step 1 (see above): the token, or null when d is not over or already listed.
CREATE FUNCTION tollgate_begin_close_usage_day(d timestamptz) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  t bigint := txid_current();
BEGIN
  LOCK TABLE usage_daily, usage_hourly_routes, usage_daily_routes, usage_daily_tags, usage_daily_users IN SHARE MODE;
  IF d > clock_timestamp() - interval '24 hours' OR EXISTS (SELECT 1 FROM usage_closed_days c WHERE c.day = d) THEN
    RETURN NULL;
  END IF;
  INSERT INTO usage_closing_days (day, token) VALUES (d, t) ON CONFLICT (day) DO UPDATE SET token = excluded.token;
  RETURN t;
END
$$;
--> statement-breakpoint
-- 0023's, with the tag-status sums of step 2 first. Without step 1's token (as before), the day is
-- closed without them.
DROP FUNCTION tollgate_close_usage_day(timestamptz);
--> statement-breakpoint
CREATE FUNCTION tollgate_close_usage_day(d timestamptz, p_token bigint DEFAULT NULL) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
  taken boolean;
BEGIN
  -- one closer of days at a time (replicas each run the hourly check): the second finds the day listed
  PERFORM pg_advisory_xact_lock(7302624);
  IF d > clock_timestamp() - interval '24 hours' OR EXISTS (SELECT 1 FROM usage_closed_days c WHERE c.day = d) THEN
    RETURN false;
  END IF;
  -- the day's rows, each once under each distinct tag of its own ('' when it has none), as rawSums reads them
  DELETE FROM usage_closed_tag_statuses WHERE day = d;
  IF p_token IS NOT NULL THEN
    INSERT INTO usage_closed_tag_statuses
    SELECT d, t.tag, r.status, count(*), sum(r.prompt_tokens), sum(r.completion_tokens), sum(r.total_tokens),
           sum(r.cost_total + c.delta), count(*) FILTER (WHERE r.pricing_source IN ('env', 'builtin')),
           sum(coalesce(r.charge_usd, r.cost_total * r.markup) + c.delta * r.markup)
    FROM usage_logs r
    CROSS JOIN LATERAL (SELECT coalesce((SELECT sum(x.delta_usd) FROM usage_corrections x
      WHERE x.request_id = r.request_id), 0) AS delta OFFSET 0) AS c
    CROSS JOIN LATERAL (SELECT DISTINCT x FROM unnest(CASE WHEN cardinality(r.tags) > 0 THEN r.tags
      ELSE ARRAY['']::text[] END) AS x) AS t(tag)
    WHERE r.created_at >= d AND r.created_at < d + interval '24 hours'
    GROUP BY 1, 2, 3;
  END IF;

  LOCK TABLE usage_daily, usage_hourly_routes, usage_daily_routes, usage_daily_tags, usage_daily_users IN SHARE MODE;
  -- nothing wrote d since step 1, and the rows are all there: each tag's sums over its statuses are
  -- the per-tag rollup's
  taken := EXISTS (SELECT 1 FROM usage_closing_days c WHERE c.day = d AND c.token = p_token) AND NOT EXISTS (
    SELECT FROM (
      SELECT tag, requests, prompt_tokens, completion_tokens, total_tokens, cost_usd, unpriced_requests, charge_usd
      FROM usage_closed_tag_statuses WHERE day = d
      UNION ALL
      SELECT tag, -requests, -prompt_tokens, -completion_tokens, -total_tokens, -cost_usd, -unpriced_requests, -charge_usd
      FROM usage_daily_tags WHERE day = d
    ) AS s
    GROUP BY tag
    HAVING sum(requests) <> 0 OR sum(prompt_tokens) <> 0 OR sum(completion_tokens) <> 0
      OR sum(total_tokens) <> 0 OR sum(cost_usd) <> 0 OR sum(unpriced_requests) <> 0 OR sum(charge_usd) <> 0);
  DELETE FROM usage_closing_days WHERE day = d;
  IF NOT taken THEN
    DELETE FROM usage_closed_tag_statuses WHERE day = d;
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
  INSERT INTO usage_closed_days (day, tag_statuses) VALUES (d, taken);
  PERFORM tollgate_close_user_month(d);
  RETURN true;
END
$$;
--> statement-breakpoint
-- 0023's, with a whole month's ends written in (after, end_user) order: a report reads one `after`'s
-- rows, ~6,000 at 10,000 users, and the hash aggregate left them scattered over the table, one heap
-- page each (30-90 ms of the 30-day summary by end user at 10 M and 50 M rows); now they are adjacent.
CREATE OR REPLACE FUNCTION tollgate_close_user_month(d timestamptz) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  m timestamptz := date_trunc('month', d AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
  last int := extract(day FROM date_trunc('month', d AT TIME ZONE 'UTC') + interval '1 month' - interval '1 day')::int;
  k int := (extract(epoch FROM d - m) / 86400)::int + 1;
BEGIN
  DELETE FROM usage_closed_user_months WHERE month = m AND days >= k;
  DELETE FROM usage_closed_user_month_ends WHERE month = m;
  IF (SELECT count(*) FROM usage_closed_days c WHERE c.day >= m AND c.day < d) < k - 1 THEN
    RETURN;
  END IF;
  WHILE k <= last AND EXISTS (SELECT 1 FROM usage_closed_days c WHERE c.day = m + (k - 1) * interval '24 hours') LOOP
    INSERT INTO usage_closed_user_months
    SELECT m, k, end_user, sum(requests), sum(prompt_tokens), sum(completion_tokens),
           sum(total_tokens), sum(cost_usd), sum(unpriced_requests), sum(charge_usd)
    FROM (
      SELECT end_user, requests, prompt_tokens, completion_tokens, total_tokens, cost_usd,
             unpriced_requests, charge_usd
      FROM usage_closed_user_months WHERE month = m AND days = k - 1
      UNION ALL
      SELECT end_user, requests, prompt_tokens, completion_tokens, total_tokens, cost_usd,
             unpriced_requests, charge_usd
      FROM usage_daily_users WHERE day = m + (k - 1) * interval '24 hours'
    ) AS s
    GROUP BY end_user;
    k := k + 1;
  END LOOP;
  -- the whole month closed: its ends, each the month's total less a prefix (users with nothing left out)
  IF k > last THEN
    INSERT INTO usage_closed_user_month_ends
    SELECT m, after, end_user, sum(requests), sum(prompt_tokens), sum(completion_tokens), sum(total_tokens),
           sum(cost_usd), sum(unpriced_requests), sum(charge_usd)
    FROM (
      SELECT a AS after, end_user, requests, prompt_tokens, completion_tokens, total_tokens, cost_usd,
             unpriced_requests, charge_usd
      FROM usage_closed_user_months, generate_series(1, last - 1) AS a WHERE month = m AND days = last
      UNION ALL
      SELECT days, end_user, -requests, -prompt_tokens, -completion_tokens, -total_tokens, -cost_usd,
             -unpriced_requests, -charge_usd
      FROM usage_closed_user_months WHERE month = m AND days < last
    ) AS s
    GROUP BY after, end_user
    HAVING sum(requests) <> 0
    ORDER BY after, end_user;
  END IF;
END
$$;
--> statement-breakpoint
-- A truncate of the ledger empties the closed days with the rollups (0023's list, plus these).
CREATE OR REPLACE FUNCTION tollgate_rollup_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  TRUNCATE usage_hourly, usage_hourly_routes, usage_hourly_users, usage_hourly_tags,
           usage_daily, usage_daily_routes, usage_daily_users, usage_daily_tags,
           usage_closed_days, usage_closed_totals, usage_closed_hours, usage_closed_tags, usage_closed_keys,
           usage_closed_user_months, usage_closed_user_month_ends, usage_closed_tag_statuses, usage_closing_days;
  RETURN NULL;
END
$$;
--> statement-breakpoint
-- Days listed before have no tag-status sums: unlisted, the next run sums them again (reports read the
-- rollups meanwhile, as for any day not closed).
DELETE FROM usage_closed_days;
