-- Budget periods (day, ISO week, calendar month) per key, alert thresholds, soft budgets, and the
-- budget-alert outbox. Hand-written (DESIGN §6b): the functions and triggers are beyond drizzle-kit.
ALTER TABLE "api_keys" ADD COLUMN "budget_period" text DEFAULT 'month' NOT NULL;--> statement-breakpoint
ALTER TABLE "api_keys" ADD CONSTRAINT "api_keys_budget_period_check" CHECK ("budget_period" IN ('day', 'week', 'month'));--> statement-breakpoint
ALTER TABLE "api_keys" ADD COLUMN "alert_thresholds" numeric[] DEFAULT '{0.5,0.8,1.0}' NOT NULL;--> statement-breakpoint
ALTER TABLE "api_keys" ADD COLUMN "soft_budget" boolean DEFAULT false NOT NULL;--> statement-breakpoint
CREATE TABLE "budget_alerts" (
	"id" text PRIMARY KEY DEFAULT ('alr_' || replace(gen_random_uuid()::text, '-', '')) NOT NULL,
	"api_key_id" text NOT NULL,
	"period_start" date NOT NULL,
	"threshold" numeric NOT NULL,
	"spent_usd" numeric NOT NULL,
	"budget_usd" numeric NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"state" text DEFAULT 'pending' NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"next_attempt_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_error" text,
	"delivered_at" timestamp with time zone,
	CONSTRAINT "budget_alerts_state_check" CHECK ("state" IN ('pending', 'delivered', 'failed'))
);
--> statement-breakpoint
-- numeric equality: 0.8 and 0.80 are one threshold, so a re-typed threshold list cannot raise it twice
CREATE UNIQUE INDEX "budget_alerts_key_period_threshold" ON "budget_alerts" USING btree ("api_key_id","period_start","threshold");--> statement-breakpoint
CREATE INDEX "budget_alerts_created_at" ON "budget_alerts" USING btree ("created_at" DESC NULLS LAST,"id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "budget_alerts_due" ON "budget_alerts" USING btree ("next_attempt_at") WHERE "state" = 'pending';--> statement-breakpoint
-- The first day of the budget period holding `at`, in UTC. The one SQL copy of src/services/limits.ts
-- budgetPeriod(); test/integration/budget-periods.test.ts checks the two agree at every boundary.
CREATE FUNCTION tollgate_period_start(kind text, at timestamptz) RETURNS date LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE kind
    WHEN 'day' THEN (at AT TIME ZONE 'UTC')::date
    -- date_trunc('week') is ISO: weeks start on Monday
    WHEN 'week' THEN date_trunc('week', at AT TIME ZONE 'UTC')::date
    ELSE date_trunc('month', at AT TIME ZONE 'UTC')::date
  END
$$;
--> statement-breakpoint
-- The spend trigger of 0005, each row settled in its key's own period: the row's created_at is the
-- request's start, the instant admission reserved at, so a request in flight over a boundary settles
-- (and releases its reservation) in the period it was admitted in.
CREATE OR REPLACE FUNCTION tollgate_settle_spend() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  WITH settled AS (
    SELECT i.api_key_id,
           tollgate_period_start(coalesce(k.budget_period, 'month'), i.created_at) AS period,
           sum(i.cost_total) AS spent,
           sum(coalesce(i.reserved_usd, 0)) AS released
    FROM inserted i
    LEFT JOIN api_keys k ON k.id = i.api_key_id
    WHERE i.api_key_id IS NOT NULL
    GROUP BY 1, 2
  )
  INSERT INTO key_spend AS ks (api_key_id, period, spent_usd, reserved_usd)
  SELECT api_key_id, period, spent, 0 FROM settled
  ORDER BY api_key_id, period
  ON CONFLICT (api_key_id, period) DO UPDATE
    SET spent_usd = ks.spent_usd + excluded.spent_usd,
        reserved_usd = greatest(
          ks.reserved_usd - (SELECT s.released FROM settled s WHERE s.api_key_id = excluded.api_key_id AND s.period = excluded.period),
          0);
  RETURN NULL;
END
$$;
--> statement-breakpoint
-- Raises the alerts of every threshold the period's spend has reached, whatever moved it (usage rows,
-- spool replays, price corrections): all reached thresholds, not only those just crossed, so a jump
-- from 40% to 120% raises 0.5, 0.8 and 1.0 at once. The unique index with DO NOTHING makes a threshold
-- already raised in this period a no-op, also when two replicas settle the same key at once (the
-- second waits on the first's index entry, then skips). Runs in the transaction that moves the spend.
CREATE FUNCTION tollgate_raise_alerts() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  raised integer;
BEGIN
  INSERT INTO budget_alerts (api_key_id, period_start, threshold, spent_usd, budget_usd)
  SELECT NEW.api_key_id, NEW.period, t.threshold, NEW.spent_usd, k.monthly_budget_usd
  FROM api_keys k
  CROSS JOIN LATERAL unnest(k.alert_thresholds) AS t(threshold)
  WHERE k.id = NEW.api_key_id
    AND k.monthly_budget_usd > 0
    AND NEW.spent_usd >= t.threshold * k.monthly_budget_usd
  ORDER BY t.threshold
  ON CONFLICT (api_key_id, period_start, threshold) DO NOTHING;
  GET DIAGNOSTICS raised = ROW_COUNT;
  -- wakes the deliverers at commit; they also poll, so a lost notification only delays
  IF raised > 0 THEN
    PERFORM pg_notify('tollgate_alerts', NEW.api_key_id);
  END IF;
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE TRIGGER key_spend_raise_alerts_insert
  AFTER INSERT ON key_spend
  FOR EACH ROW WHEN (NEW.spent_usd > 0) EXECUTE FUNCTION tollgate_raise_alerts();
--> statement-breakpoint
-- only a spend that grew: reservations (reserved_usd alone) and downward corrections raise nothing
CREATE TRIGGER key_spend_raise_alerts_update
  AFTER UPDATE OF spent_usd ON key_spend
  FOR EACH ROW WHEN (NEW.spent_usd > OLD.spent_usd) EXECUTE FUNCTION tollgate_raise_alerts();
