CREATE TABLE "usage_hourly" (
	"hour" timestamp with time zone NOT NULL,
	"api_key_id" text NOT NULL,
	"model" text NOT NULL,
	"status" text NOT NULL,
	"requests" bigint NOT NULL,
	"prompt_tokens" bigint NOT NULL,
	"completion_tokens" bigint NOT NULL,
	"total_tokens" bigint NOT NULL,
	"cost_usd" numeric NOT NULL,
	"unpriced_requests" bigint NOT NULL,
	CONSTRAINT "usage_hourly_hour_api_key_id_model_status_pk" PRIMARY KEY("hour","api_key_id","model","status")
);
--> statement-breakpoint
-- The rollup follows usage_logs in the same transaction as the change: inserted rows are added, deleted
-- rows subtracted, an update is both; hours left with no request are removed. Rows a replay skips
-- (ON CONFLICT DO NOTHING) are not in the transition tables. Groups are upserted in primary-key order,
-- so two replicas' batches lock the same rows in the same order and cannot deadlock.
CREATE FUNCTION tollgate_rollup_usage() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('DELETE', 'UPDATE') THEN
    INSERT INTO usage_hourly AS h
      (hour, api_key_id, model, status, requests, prompt_tokens, completion_tokens, total_tokens, cost_usd, unpriced_requests)
    SELECT date_trunc('hour', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', coalesce(api_key_id, ''), model, status,
           -count(*), -sum(prompt_tokens), -sum(completion_tokens), -sum(total_tokens), -sum(cost_total),
           -count(*) FILTER (WHERE pricing_source = 'builtin')
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
           count(*) FILTER (WHERE pricing_source = 'builtin')
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
CREATE FUNCTION tollgate_rollup_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  TRUNCATE usage_hourly;
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE TRIGGER usage_logs_rollup_insert AFTER INSERT ON usage_logs
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tollgate_rollup_usage();
--> statement-breakpoint
CREATE TRIGGER usage_logs_rollup_update AFTER UPDATE ON usage_logs
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tollgate_rollup_usage();
--> statement-breakpoint
CREATE TRIGGER usage_logs_rollup_delete AFTER DELETE ON usage_logs
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION tollgate_rollup_usage();
--> statement-breakpoint
CREATE TRIGGER usage_logs_rollup_truncate AFTER TRUNCATE ON usage_logs
  FOR EACH STATEMENT EXECUTE FUNCTION tollgate_rollup_truncate();
--> statement-breakpoint
-- rows already in the ledger; the triggers above hold usage_logs' lock, so none can slip in between
INSERT INTO usage_hourly
  (hour, api_key_id, model, status, requests, prompt_tokens, completion_tokens, total_tokens, cost_usd, unpriced_requests)
SELECT date_trunc('hour', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', coalesce(api_key_id, ''), model, status,
       count(*), sum(prompt_tokens), sum(completion_tokens), sum(total_tokens), sum(cost_total),
       count(*) FILTER (WHERE pricing_source = 'builtin')
FROM usage_logs
GROUP BY 1, 2, 3, 4;
