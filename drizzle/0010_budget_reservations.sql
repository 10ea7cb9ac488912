-- A budget reservation is a row of its own, keyed by the request id that holds it (the usage row's
-- request_id), so it has one owner: the usage row's trigger settles it, finish() without a row releases
-- it, and the reaper expires it when its owner died. key_spend.reserved_usd stays the sum of the live
-- rows: admission still locks one key_spend row, so replicas can never both take the last dollar.
CREATE TABLE "budget_reservations" (
	"id" text PRIMARY KEY NOT NULL,
	"api_key_id" text NOT NULL,
	"period" date NOT NULL,
	"amount" numeric NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE INDEX "budget_reservations_created_at" ON "budget_reservations" USING btree ("created_at");
--> statement-breakpoint
-- reservations made before this migration have no rows, so nothing could ever release them: start at 0
UPDATE "key_spend" SET "reserved_usd" = 0 WHERE "reserved_usd" <> 0;
--> statement-breakpoint
-- The spend trigger of 0005, releasing reservations by their rows instead of usage_logs.reserved_usd:
-- a row whose reservation was already released or reaped frees nothing, so nothing is freed twice.
-- Reservation rows are locked before key_spend rows, as release and the reaper do.
CREATE OR REPLACE FUNCTION tollgate_settle_spend() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  WITH released AS (
    DELETE FROM budget_reservations r USING inserted i
    WHERE r.id = i.request_id
    RETURNING r.api_key_id, r.period, r.amount
  ),
  spent AS (
    SELECT api_key_id,
           date_trunc('month', created_at AT TIME ZONE 'UTC')::date AS period,
           sum(cost_total) AS spent
    FROM inserted
    WHERE api_key_id IS NOT NULL
    GROUP BY 1, 2
  ),
  freed AS (
    SELECT api_key_id, period, sum(amount) AS freed FROM released GROUP BY 1, 2
  ),
  settled AS (
    SELECT api_key_id, period, coalesce(s.spent, 0) AS spent, coalesce(f.freed, 0) AS freed
    FROM spent s FULL JOIN freed f USING (api_key_id, period)
  )
  INSERT INTO key_spend AS ks (api_key_id, period, spent_usd, reserved_usd)
  SELECT api_key_id, period, spent, 0 FROM settled
  ORDER BY api_key_id, period
  ON CONFLICT (api_key_id, period) DO UPDATE
    SET spent_usd = ks.spent_usd + excluded.spent_usd,
        reserved_usd = greatest(
          ks.reserved_usd - (SELECT s.freed FROM settled s WHERE s.api_key_id = excluded.api_key_id AND s.period = excluded.period),
          0);
  RETURN NULL;
END
$$;
