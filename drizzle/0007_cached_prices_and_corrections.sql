-- Issue 15: cached input prices, catalog prices, and corrections appended to the ledger.
-- A null cached_input_token_cost means the input price applies to cached prompt tokens too.
ALTER TABLE "api_provider_pricing" ADD COLUMN "cached_input_token_cost" numeric;
--> statement-breakpoint
-- One entry per re-priced usage row (POST /admin/reprice): a usage row is never changed; its cost is
-- cost_total plus the delta_usd of its corrections. old_* are the prices and costs in force before
-- this entry (the row's, or its latest correction's), new_* those applied by it.
CREATE TABLE "usage_corrections" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "usage_corrections_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"request_id" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"actor" text NOT NULL,
	"reprice_id" text NOT NULL,
	"old_pricing_id" bigint,
	"old_pricing_source" text NOT NULL,
	"old_input_token_cost" numeric NOT NULL,
	"old_cached_input_token_cost" numeric,
	"old_output_token_cost" numeric NOT NULL,
	"old_cost_input" numeric NOT NULL,
	"old_cost_output" numeric NOT NULL,
	"old_cost_total" numeric NOT NULL,
	"new_pricing_id" bigint,
	"new_pricing_source" text NOT NULL,
	"new_input_token_cost" numeric NOT NULL,
	"new_cached_input_token_cost" numeric NOT NULL,
	"new_output_token_cost" numeric NOT NULL,
	"new_cost_input" numeric NOT NULL,
	"new_cost_output" numeric NOT NULL,
	"new_cost_total" numeric NOT NULL,
	"delta_usd" numeric NOT NULL
);
--> statement-breakpoint
CREATE INDEX "usage_corrections_request_id" ON "usage_corrections" USING btree ("request_id","id");
--> statement-breakpoint
-- Corrections reach every sum the way usage rows do, in the same transaction as their insert: the
-- delta is added to the hourly rollup of the corrected row's hour, key, model and status, and to its
-- key's spend for the row's period (so budgets and alerts see it). Groups are upserted in key order,
-- rollup before spend, as usage_logs' own triggers do, so the two cannot deadlock each other.
CREATE FUNCTION tollgate_apply_corrections() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO usage_hourly AS h
    (hour, api_key_id, model, status, requests, prompt_tokens, completion_tokens, total_tokens, cost_usd, unpriced_requests)
  SELECT date_trunc('hour', u.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', coalesce(u.api_key_id, ''), u.model, u.status,
         0, 0, 0, 0, sum(a.delta_usd), 0
  FROM added a JOIN usage_logs u ON u.request_id = a.request_id
  GROUP BY 1, 2, 3, 4
  ORDER BY 1, 2, 3, 4
  ON CONFLICT (hour, api_key_id, model, status) DO UPDATE
    SET cost_usd = h.cost_usd + excluded.cost_usd;
  INSERT INTO key_spend AS ks (api_key_id, period, spent_usd, reserved_usd)
  SELECT u.api_key_id, date_trunc('month', u.created_at AT TIME ZONE 'UTC')::date, sum(a.delta_usd), 0
  FROM added a JOIN usage_logs u ON u.request_id = a.request_id
  WHERE u.api_key_id IS NOT NULL
  GROUP BY 1, 2
  ORDER BY 1, 2
  ON CONFLICT (api_key_id, period) DO UPDATE
    SET spent_usd = ks.spent_usd + excluded.spent_usd;
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE TRIGGER usage_corrections_apply AFTER INSERT ON usage_corrections
  REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION tollgate_apply_corrections();
--> statement-breakpoint
-- Unpriced now also counts rows priced by the env fallback: the default model's env price is written
-- as a database version at every start, so an `env` row is a model that had no price of its own.
CREATE OR REPLACE FUNCTION tollgate_rollup_usage() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('DELETE', 'UPDATE') THEN
    INSERT INTO usage_hourly AS h
      (hour, api_key_id, model, status, requests, prompt_tokens, completion_tokens, total_tokens, cost_usd, unpriced_requests)
    SELECT date_trunc('hour', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', coalesce(api_key_id, ''), model, status,
           -count(*), -sum(prompt_tokens), -sum(completion_tokens), -sum(total_tokens), -sum(cost_total),
           -count(*) FILTER (WHERE pricing_source IN ('env', 'builtin'))
    FROM old_rows
    GROUP BY 1, 2, 3, 4
    ORDER BY 1, 2, 3, 4
    ON CONFLICT (hour, api_key_id, model, status) DO UPDATE
      SET requests = h.requests + excluded.requests,
          prompt_tokens = h.prompt_tokens + excluded.prompt_tokens,
          completion_tokens = h.completion_tokens + excluded.completion_tokens,
          total_tokens = h.total_tokens + excluded.total_tokens,
          cost_usd = h.cost_usd + excluded.cost_usd,
          unpriced_requests = h.unpriced_requests + excluded.unpriced_requests;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    INSERT INTO usage_hourly AS h
      (hour, api_key_id, model, status, requests, prompt_tokens, completion_tokens, total_tokens, cost_usd, unpriced_requests)
    SELECT date_trunc('hour', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', coalesce(api_key_id, ''), model, status,
           count(*), sum(prompt_tokens), sum(completion_tokens), sum(total_tokens), sum(cost_total),
           count(*) FILTER (WHERE pricing_source IN ('env', 'builtin'))
    FROM new_rows
    GROUP BY 1, 2, 3, 4
    ORDER BY 1, 2, 3, 4
    ON CONFLICT (hour, api_key_id, model, status) DO UPDATE
      SET requests = h.requests + excluded.requests,
          prompt_tokens = h.prompt_tokens + excluded.prompt_tokens,
          completion_tokens = h.completion_tokens + excluded.completion_tokens,
          total_tokens = h.total_tokens + excluded.total_tokens,
          cost_usd = h.cost_usd + excluded.cost_usd,
          unpriced_requests = h.unpriced_requests + excluded.unpriced_requests;
  END IF;
  IF TG_OP IN ('DELETE', 'UPDATE') THEN
    DELETE FROM usage_hourly h
    USING (SELECT DISTINCT date_trunc('hour', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS hour,
                           coalesce(api_key_id, '') AS api_key_id, model, status
           FROM old_rows) AS o
    WHERE h.requests = 0 AND h.hour = o.hour AND h.api_key_id = o.api_key_id AND h.model = o.model AND h.status = o.status;
  END IF;
  RETURN NULL;
END
$$;
--> statement-breakpoint
UPDATE usage_hourly h SET unpriced_requests = s.unpriced
FROM (
  SELECT date_trunc('hour', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS hour, coalesce(api_key_id, '') AS api_key_id,
         model, status, count(*) FILTER (WHERE pricing_source IN ('env', 'builtin')) AS unpriced
  FROM usage_logs
  GROUP BY 1, 2, 3, 4
) AS s
WHERE h.hour = s.hour AND h.api_key_id = s.api_key_id AND h.model = s.model AND h.status = s.status;
