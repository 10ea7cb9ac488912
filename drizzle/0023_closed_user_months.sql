-- Issue 26: the 30-day summary by end user read ~264 k rows of usage_daily_users at 10 M rows (a row per
-- active end user and key per day: 135-146 ms), and no closed table helped, because every one of 10,000
-- users is active on most days. A month's closed days are now also summed as running totals per end
-- user: usage_closed_user_months (month, days, end_user) holds, for the UTC month starting
-- `month`, the sums of its first `days` days. Any run of closed days inside one month is then at most
-- two such rows per user (the longer prefix less the shorter), so 30 days read two or three months'
-- worth of users (and today from the daily layer) instead of thirty days' worth. Once a month's days are
-- all closed, usage_closed_user_month_ends (month, after, end_user) also holds its last days, after the
-- first `after`, per user (the month's total less a prefix, summed once), so the head of a 30-day range
-- is one row per user, not two.
--
-- Exactness, as for the other closed tables (0022): a report uses the prefix (month, days) only while
-- usage_closed_days lists each of those days, in the same snapshot; a write to any of them unlists it.
-- tollgate_close_usage_day(d) rebuilds the prefixes of d's month from d's own on, in its transaction,
-- as long as the days before d in its month and each next day are listed, so whenever a month's first
-- k days are all listed, its prefix of k days is there and holds their current sums. The days between
-- the ledger's first and last day are now all closed, rows or none, so a day without traffic does not
-- break its month's run.
CREATE TABLE usage_closed_user_months (
  month timestamptz NOT NULL, days smallint NOT NULL, end_user text NOT NULL,
  requests bigint NOT NULL, prompt_tokens bigint NOT NULL, completion_tokens bigint NOT NULL,
  total_tokens bigint NOT NULL, cost_usd numeric NOT NULL, unpriced_requests bigint NOT NULL,
  charge_usd numeric DEFAULT 0 NOT NULL,
  CONSTRAINT usage_closed_user_months_pk PRIMARY KEY (month, days, end_user)
);
--> statement-breakpoint
-- one end user's months (a report on one user), as usage_daily_users_end_user
CREATE INDEX usage_closed_user_months_end_user ON usage_closed_user_months (end_user, month, days);
--> statement-breakpoint
CREATE TABLE usage_closed_user_month_ends (
  month timestamptz NOT NULL, after smallint NOT NULL, end_user text NOT NULL,
  requests bigint NOT NULL, prompt_tokens bigint NOT NULL, completion_tokens bigint NOT NULL,
  total_tokens bigint NOT NULL, cost_usd numeric NOT NULL, unpriced_requests bigint NOT NULL,
  charge_usd numeric DEFAULT 0 NOT NULL,
  CONSTRAINT usage_closed_user_month_ends_pk PRIMARY KEY (month, after, end_user)
);
--> statement-breakpoint
CREATE INDEX usage_closed_user_month_ends_end_user ON usage_closed_user_month_ends (end_user, month, after);
--> statement-breakpoint
-- The days that are over and not listed, from the ledger's first day on: a day without rows between
-- two with rows is closed too (it has nothing to sum), so it does not end its month's run of closed days.
CREATE OR REPLACE FUNCTION tollgate_unclosed_usage_days() RETURNS SETOF timestamptz LANGUAGE sql STABLE AS $$
  SELECT u FROM generate_series(
    (SELECT min(day) FROM usage_daily_routes),
    least((SELECT max(day) FROM usage_daily_routes), clock_timestamp() - interval '24 hours'),
    interval '24 hours') AS u
  WHERE NOT EXISTS (SELECT 1 FROM usage_closed_days c WHERE c.day = u)
  ORDER BY u DESC
$$;
--> statement-breakpoint
-- Rebuilds the prefixes of day d's month from d's on (d just listed), while the days before are listed.
CREATE FUNCTION tollgate_close_user_month(d timestamptz) RETURNS void LANGUAGE plpgsql AS $$
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
    HAVING sum(requests) <> 0;
  END IF;
END
$$;
--> statement-breakpoint
-- 0022's, with usage_daily_users locked too (last, as every writer takes it) and the month's prefixes.
CREATE OR REPLACE FUNCTION tollgate_close_usage_day(d timestamptz) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  LOCK TABLE usage_daily, usage_hourly_routes, usage_daily_routes, usage_daily_tags, usage_daily_users IN SHARE MODE;
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
  PERFORM tollgate_close_user_month(d);
  RETURN true;
END
$$;
--> statement-breakpoint
-- A truncate of the ledger empties the closed days with the rollups (0022's list, plus the months).
CREATE OR REPLACE FUNCTION tollgate_rollup_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  TRUNCATE usage_hourly, usage_hourly_routes, usage_hourly_users, usage_hourly_tags,
           usage_daily, usage_daily_routes, usage_daily_users, usage_daily_tags,
           usage_closed_days, usage_closed_totals, usage_closed_hours, usage_closed_tags, usage_closed_keys,
           usage_closed_user_months, usage_closed_user_month_ends;
  RETURN NULL;
END
$$;
--> statement-breakpoint
-- Days 0022 listed have no prefixes yet: unlisted, the next run sums them again (reports read the
-- rollups meanwhile, as for any day not closed).
DELETE FROM usage_closed_days;
