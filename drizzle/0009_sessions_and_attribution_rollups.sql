-- Dashboard sessions live in the database, so a sign-out on one replica ends the session on all of
-- them (a signed cookie alone stays valid until it expires). Only the SHA-256 of the session token is
-- kept, as for API keys.
CREATE TABLE "dashboard_sessions" (
	"token_hash" text PRIMARY KEY NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE INDEX "dashboard_sessions_expires_at" ON "dashboard_sessions" ("expires_at");
--> statement-breakpoint
-- Sign-in attempts per client address and one-minute window, shared by every replica.
CREATE TABLE "dashboard_login_attempts" (
	"client" text NOT NULL,
	"window_start" timestamp with time zone NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	CONSTRAINT "dashboard_login_attempts_pk" PRIMARY KEY("client","window_start")
);
--> statement-breakpoint
-- /usage filtered by end user or tag reads these; the other filters share the created_at index.
CREATE INDEX "usage_logs_end_user_created_at" ON "usage_logs" ("end_user", "created_at" DESC) WHERE "end_user" IS NOT NULL;
--> statement-breakpoint
CREATE INDEX "usage_logs_tags" ON "usage_logs" USING gin ("tags");
--> statement-breakpoint
-- Three narrow rollups beside usage_hourly (hour, key, model, status), each read only by the reports
-- that need its dimension. One wide rollup with every dimension would multiply usage_hourly's rows by
-- the end users' count and slow the reports that never ask for them. '' stands for "none" (null
-- served_by or end_user, a row without tags): key columns of a primary key are never null.
--   routes: endpoint and served_by, with model and status (no key: the rows stay few)
--   users:  end_user with the key (an app's end users belong to its key)
--   tags:   a row counts once for each distinct tag it carries, with key and model
CREATE TABLE "usage_hourly_routes" (
	"hour" timestamp with time zone NOT NULL,
	"endpoint" text NOT NULL,
	"served_by" text NOT NULL,
	"model" text NOT NULL,
	"status" text NOT NULL,
	"requests" bigint NOT NULL,
	"prompt_tokens" bigint NOT NULL,
	"completion_tokens" bigint NOT NULL,
	"total_tokens" bigint NOT NULL,
	"cost_usd" numeric NOT NULL,
	"unpriced_requests" bigint NOT NULL,
	CONSTRAINT "usage_hourly_routes_pk" PRIMARY KEY("hour","endpoint","served_by","model","status")
);
--> statement-breakpoint
CREATE TABLE "usage_hourly_users" (
	"hour" timestamp with time zone NOT NULL,
	"end_user" text NOT NULL,
	"api_key_id" text NOT NULL,
	"requests" bigint NOT NULL,
	"prompt_tokens" bigint NOT NULL,
	"completion_tokens" bigint NOT NULL,
	"total_tokens" bigint NOT NULL,
	"cost_usd" numeric NOT NULL,
	"unpriced_requests" bigint NOT NULL,
	CONSTRAINT "usage_hourly_users_pk" PRIMARY KEY("hour","end_user","api_key_id")
);
--> statement-breakpoint
CREATE TABLE "usage_hourly_tags" (
	"hour" timestamp with time zone NOT NULL,
	"tag" text NOT NULL,
	"api_key_id" text NOT NULL,
	"model" text NOT NULL,
	"requests" bigint NOT NULL,
	"prompt_tokens" bigint NOT NULL,
	"completion_tokens" bigint NOT NULL,
	"total_tokens" bigint NOT NULL,
	"cost_usd" numeric NOT NULL,
	"unpriced_requests" bigint NOT NULL,
	CONSTRAINT "usage_hourly_tags_pk" PRIMARY KEY("hour","tag","api_key_id","model")
);
--> statement-breakpoint
-- one end user's or one tag's hours, without reading every other's (their primary keys lead with the hour)
CREATE INDEX "usage_hourly_users_end_user" ON "usage_hourly_users" ("end_user", "hour");
--> statement-breakpoint
CREATE INDEX "usage_hourly_tags_tag" ON "usage_hourly_tags" ("tag", "hour");
--> statement-breakpoint
-- Each rollup's trigger follows usage_hourly's (0004): in the same transaction as the change, old rows
-- subtracted and new rows added, groups upserted in primary-key order (no deadlock between replicas),
-- groups left with no request removed. Transition tables are only in scope when the trigger declares
-- them, hence one static statement per case.
CREATE FUNCTION tollgate_rollup_routes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('DELETE', 'UPDATE') THEN
    INSERT INTO usage_hourly_routes AS h
      (hour, endpoint, served_by, model, status, requests, prompt_tokens, completion_tokens, total_tokens, cost_usd, unpriced_requests)
    SELECT date_trunc('hour', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', endpoint, coalesce(served_by, ''), model, status,
           -count(*), -sum(prompt_tokens), -sum(completion_tokens), -sum(total_tokens), -sum(cost_total),
           -count(*) FILTER (WHERE pricing_source IN ('env', 'builtin'))
    FROM old_rows GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (hour, endpoint, served_by, model, status) DO UPDATE
      SET requests = h.requests + excluded.requests, prompt_tokens = h.prompt_tokens + excluded.prompt_tokens,
          completion_tokens = h.completion_tokens + excluded.completion_tokens,
          total_tokens = h.total_tokens + excluded.total_tokens, cost_usd = h.cost_usd + excluded.cost_usd,
          unpriced_requests = h.unpriced_requests + excluded.unpriced_requests;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    INSERT INTO usage_hourly_routes AS h
      (hour, endpoint, served_by, model, status, requests, prompt_tokens, completion_tokens, total_tokens, cost_usd, unpriced_requests)
    SELECT date_trunc('hour', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', endpoint, coalesce(served_by, ''), model, status,
           count(*), sum(prompt_tokens), sum(completion_tokens), sum(total_tokens), sum(cost_total),
           count(*) FILTER (WHERE pricing_source IN ('env', 'builtin'))
    FROM new_rows GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (hour, endpoint, served_by, model, status) DO UPDATE
      SET requests = h.requests + excluded.requests, prompt_tokens = h.prompt_tokens + excluded.prompt_tokens,
          completion_tokens = h.completion_tokens + excluded.completion_tokens,
          total_tokens = h.total_tokens + excluded.total_tokens, cost_usd = h.cost_usd + excluded.cost_usd,
          unpriced_requests = h.unpriced_requests + excluded.unpriced_requests;
  END IF;
  IF TG_OP IN ('DELETE', 'UPDATE') THEN
    DELETE FROM usage_hourly_routes WHERE requests = 0
      AND hour IN (SELECT date_trunc('hour', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' FROM old_rows);
  END IF;
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE FUNCTION tollgate_rollup_users() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('DELETE', 'UPDATE') THEN
    INSERT INTO usage_hourly_users AS h
      (hour, end_user, api_key_id, requests, prompt_tokens, completion_tokens, total_tokens, cost_usd, unpriced_requests)
    SELECT date_trunc('hour', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', coalesce(end_user, ''), coalesce(api_key_id, ''),
           -count(*), -sum(prompt_tokens), -sum(completion_tokens), -sum(total_tokens), -sum(cost_total),
           -count(*) FILTER (WHERE pricing_source IN ('env', 'builtin'))
    FROM old_rows GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (hour, end_user, api_key_id) DO UPDATE
      SET requests = h.requests + excluded.requests, prompt_tokens = h.prompt_tokens + excluded.prompt_tokens,
          completion_tokens = h.completion_tokens + excluded.completion_tokens,
          total_tokens = h.total_tokens + excluded.total_tokens, cost_usd = h.cost_usd + excluded.cost_usd,
          unpriced_requests = h.unpriced_requests + excluded.unpriced_requests;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    INSERT INTO usage_hourly_users AS h
      (hour, end_user, api_key_id, requests, prompt_tokens, completion_tokens, total_tokens, cost_usd, unpriced_requests)
    SELECT date_trunc('hour', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', coalesce(end_user, ''), coalesce(api_key_id, ''),
           count(*), sum(prompt_tokens), sum(completion_tokens), sum(total_tokens), sum(cost_total),
           count(*) FILTER (WHERE pricing_source IN ('env', 'builtin'))
    FROM new_rows GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (hour, end_user, api_key_id) DO UPDATE
      SET requests = h.requests + excluded.requests, prompt_tokens = h.prompt_tokens + excluded.prompt_tokens,
          completion_tokens = h.completion_tokens + excluded.completion_tokens,
          total_tokens = h.total_tokens + excluded.total_tokens, cost_usd = h.cost_usd + excluded.cost_usd,
          unpriced_requests = h.unpriced_requests + excluded.unpriced_requests;
  END IF;
  IF TG_OP IN ('DELETE', 'UPDATE') THEN
    DELETE FROM usage_hourly_users WHERE requests = 0
      AND hour IN (SELECT date_trunc('hour', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' FROM old_rows);
  END IF;
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE FUNCTION tollgate_rollup_tags() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('DELETE', 'UPDATE') THEN
    INSERT INTO usage_hourly_tags AS h
      (hour, tag, api_key_id, model, requests, prompt_tokens, completion_tokens, total_tokens, cost_usd, unpriced_requests)
    SELECT date_trunc('hour', r.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', t.tag, coalesce(r.api_key_id, ''), r.model,
           -count(*), -sum(r.prompt_tokens), -sum(r.completion_tokens), -sum(r.total_tokens), -sum(r.cost_total),
           -count(*) FILTER (WHERE r.pricing_source IN ('env', 'builtin'))
    FROM old_rows r
    CROSS JOIN LATERAL (SELECT DISTINCT x FROM unnest(CASE WHEN cardinality(r.tags) > 0 THEN r.tags ELSE ARRAY['']::text[] END) AS x) AS t(tag)
    GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
    ON CONFLICT (hour, tag, api_key_id, model) DO UPDATE
      SET requests = h.requests + excluded.requests, prompt_tokens = h.prompt_tokens + excluded.prompt_tokens,
          completion_tokens = h.completion_tokens + excluded.completion_tokens,
          total_tokens = h.total_tokens + excluded.total_tokens, cost_usd = h.cost_usd + excluded.cost_usd,
          unpriced_requests = h.unpriced_requests + excluded.unpriced_requests;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    INSERT INTO usage_hourly_tags AS h
      (hour, tag, api_key_id, model, requests, prompt_tokens, completion_tokens, total_tokens, cost_usd, unpriced_requests)
    SELECT date_trunc('hour', r.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', t.tag, coalesce(r.api_key_id, ''), r.model,
           count(*), sum(r.prompt_tokens), sum(r.completion_tokens), sum(r.total_tokens), sum(r.cost_total),
           count(*) FILTER (WHERE r.pricing_source IN ('env', 'builtin'))
    FROM new_rows r
    CROSS JOIN LATERAL (SELECT DISTINCT x FROM unnest(CASE WHEN cardinality(r.tags) > 0 THEN r.tags ELSE ARRAY['']::text[] END) AS x) AS t(tag)
    GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
    ON CONFLICT (hour, tag, api_key_id, model) DO UPDATE
      SET requests = h.requests + excluded.requests, prompt_tokens = h.prompt_tokens + excluded.prompt_tokens,
          completion_tokens = h.completion_tokens + excluded.completion_tokens,
          total_tokens = h.total_tokens + excluded.total_tokens, cost_usd = h.cost_usd + excluded.cost_usd,
          unpriced_requests = h.unpriced_requests + excluded.unpriced_requests;
  END IF;
  IF TG_OP IN ('DELETE', 'UPDATE') THEN
    DELETE FROM usage_hourly_tags WHERE requests = 0
      AND hour IN (SELECT date_trunc('hour', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' FROM old_rows);
  END IF;
  RETURN NULL;
END
$$;
--> statement-breakpoint
-- a truncate of the ledger empties every rollup (replaces 0004's, which knew only usage_hourly)
CREATE OR REPLACE FUNCTION tollgate_rollup_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  TRUNCATE usage_hourly, usage_hourly_routes, usage_hourly_users, usage_hourly_tags;
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE TRIGGER usage_logs_rollup_routes_insert AFTER INSERT ON usage_logs
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tollgate_rollup_routes();
--> statement-breakpoint
CREATE TRIGGER usage_logs_rollup_routes_update AFTER UPDATE ON usage_logs
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tollgate_rollup_routes();
--> statement-breakpoint
CREATE TRIGGER usage_logs_rollup_routes_delete AFTER DELETE ON usage_logs
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION tollgate_rollup_routes();
--> statement-breakpoint
CREATE TRIGGER usage_logs_rollup_users_insert AFTER INSERT ON usage_logs
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tollgate_rollup_users();
--> statement-breakpoint
CREATE TRIGGER usage_logs_rollup_users_update AFTER UPDATE ON usage_logs
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tollgate_rollup_users();
--> statement-breakpoint
CREATE TRIGGER usage_logs_rollup_users_delete AFTER DELETE ON usage_logs
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION tollgate_rollup_users();
--> statement-breakpoint
CREATE TRIGGER usage_logs_rollup_tags_insert AFTER INSERT ON usage_logs
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tollgate_rollup_tags();
--> statement-breakpoint
CREATE TRIGGER usage_logs_rollup_tags_update AFTER UPDATE ON usage_logs
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tollgate_rollup_tags();
--> statement-breakpoint
CREATE TRIGGER usage_logs_rollup_tags_delete AFTER DELETE ON usage_logs
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION tollgate_rollup_tags();
--> statement-breakpoint
-- rows already in the ledger; the triggers above hold usage_logs' lock, so none can slip in between
INSERT INTO usage_hourly_routes
  (hour, endpoint, served_by, model, status, requests, prompt_tokens, completion_tokens, total_tokens, cost_usd, unpriced_requests)
SELECT date_trunc('hour', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', endpoint, coalesce(served_by, ''), model, status,
       count(*), sum(prompt_tokens), sum(completion_tokens), sum(total_tokens), sum(cost_total),
       count(*) FILTER (WHERE pricing_source IN ('env', 'builtin'))
FROM usage_logs GROUP BY 1, 2, 3, 4, 5;
--> statement-breakpoint
INSERT INTO usage_hourly_users
  (hour, end_user, api_key_id, requests, prompt_tokens, completion_tokens, total_tokens, cost_usd, unpriced_requests)
SELECT date_trunc('hour', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', coalesce(end_user, ''), coalesce(api_key_id, ''),
       count(*), sum(prompt_tokens), sum(completion_tokens), sum(total_tokens), sum(cost_total),
       count(*) FILTER (WHERE pricing_source IN ('env', 'builtin'))
FROM usage_logs GROUP BY 1, 2, 3;
--> statement-breakpoint
INSERT INTO usage_hourly_tags
  (hour, tag, api_key_id, model, requests, prompt_tokens, completion_tokens, total_tokens, cost_usd, unpriced_requests)
SELECT date_trunc('hour', r.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', t.tag, coalesce(r.api_key_id, ''), r.model,
       count(*), sum(r.prompt_tokens), sum(r.completion_tokens), sum(r.total_tokens), sum(r.cost_total),
       count(*) FILTER (WHERE r.pricing_source IN ('env', 'builtin'))
FROM usage_logs r
CROSS JOIN LATERAL (SELECT DISTINCT x FROM unnest(CASE WHEN cardinality(r.tags) > 0 THEN r.tags ELSE ARRAY['']::text[] END) AS x) AS t(tag)
GROUP BY 1, 2, 3, 4;
