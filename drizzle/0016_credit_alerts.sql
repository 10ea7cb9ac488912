-- credits.low and credits.exhausted alerts (DESIGN §6c) through the budget-alert outbox of 0008: its rows
-- gain a type and an account, and each account alert is one row per (account, type, crossing). Whether an
-- alert is armed lives on account_balance, flipped under that row's lock in the statement that crosses,
-- so any number of replicas raise each crossing once. Hand-written: the trigger is beyond drizzle-kit.
ALTER TABLE "budget_alerts" ADD COLUMN "type" text DEFAULT 'budget.threshold' NOT NULL;--> statement-breakpoint
ALTER TABLE "budget_alerts" ADD CONSTRAINT "budget_alerts_type_check" CHECK ("type" IN ('budget.threshold', 'credits.low', 'credits.exhausted'));--> statement-breakpoint
ALTER TABLE "budget_alerts" ADD COLUMN "account_id" text;--> statement-breakpoint
-- the account's nth crossing of this type: the uniqueness key of an account alert
ALTER TABLE "budget_alerts" ADD COLUMN "crossing" integer;--> statement-breakpoint
-- the balance when the alert was raised, and the threshold it crossed (USD)
ALTER TABLE "budget_alerts" ADD COLUMN "balance_usd" numeric;--> statement-breakpoint
ALTER TABLE "budget_alerts" ADD COLUMN "threshold_usd" numeric;--> statement-breakpoint
ALTER TABLE "budget_alerts" ALTER COLUMN "api_key_id" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "budget_alerts" ALTER COLUMN "period_start" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "budget_alerts" ALTER COLUMN "threshold" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "budget_alerts" ALTER COLUMN "spent_usd" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "budget_alerts" ALTER COLUMN "budget_usd" DROP NOT NULL;--> statement-breakpoint
-- each type carries what its payload needs
ALTER TABLE "budget_alerts" ADD CONSTRAINT "budget_alerts_fields_check" CHECK (
  CASE WHEN "type" = 'budget.threshold'
    THEN "api_key_id" IS NOT NULL AND "period_start" IS NOT NULL AND "threshold" IS NOT NULL
      AND "spent_usd" IS NOT NULL AND "budget_usd" IS NOT NULL
    ELSE "account_id" IS NOT NULL AND "crossing" IS NOT NULL AND "balance_usd" IS NOT NULL
      AND "threshold_usd" IS NOT NULL
  END);--> statement-breakpoint
CREATE UNIQUE INDEX "budget_alerts_account_crossing" ON "budget_alerts" USING btree ("account_id","type","crossing") WHERE "account_id" IS NOT NULL;--> statement-breakpoint
-- armed: the next crossing raises an alert; crossings: how many were raised (the next one's number)
ALTER TABLE "account_balance" ADD COLUMN "low_armed" boolean DEFAULT true NOT NULL;--> statement-breakpoint
ALTER TABLE "account_balance" ADD COLUMN "low_crossings" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "account_balance" ADD COLUMN "exhausted_armed" boolean DEFAULT true NOT NULL;--> statement-breakpoint
ALTER TABLE "account_balance" ADD COLUMN "exhausted_crossings" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
-- In the statement that moves the balance, holding its row: a fall below low_balance_usd while armed
-- raises credits.low and disarms it; a rise (a top-up, a grant, a positive adjustment, a correction that
-- lowers a charge) that leaves the balance not below the threshold re-arms it, and one that leaves credit
-- available (balance above −credit_limit) re-arms credits.exhausted (raised by admission's refusal).
CREATE FUNCTION tollgate_credit_alerts() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  low numeric;
  exhausted_at numeric;
BEGIN
  SELECT a.low_balance_usd, -a.credit_limit_usd INTO low, exhausted_at FROM accounts a WHERE a.id = NEW.account_id;
  IF NEW.balance_usd > OLD.balance_usd THEN
    IF NOT NEW.low_armed AND (low IS NULL OR NEW.balance_usd >= low) THEN
      NEW.low_armed := true;
    END IF;
    IF NOT NEW.exhausted_armed AND NEW.balance_usd > exhausted_at THEN
      NEW.exhausted_armed := true;
    END IF;
  ELSIF NEW.low_armed AND low IS NOT NULL AND NEW.balance_usd < low THEN
    NEW.low_armed := false;
    NEW.low_crossings := OLD.low_crossings + 1;
    INSERT INTO budget_alerts (type, account_id, crossing, balance_usd, threshold_usd)
    VALUES ('credits.low', NEW.account_id, NEW.low_crossings, NEW.balance_usd, low)
    ON CONFLICT (account_id, type, crossing) WHERE account_id IS NOT NULL DO NOTHING;
    -- wakes the deliverers at commit; they also poll
    PERFORM pg_notify('tollgate_alerts', NEW.account_id);
  END IF;
  RETURN NEW;
END
$$;
--> statement-breakpoint
-- only what can change an alert's state: a fall while armed, a rise while either is disarmed
CREATE TRIGGER account_balance_credit_alerts
  BEFORE UPDATE OF balance_usd ON account_balance
  FOR EACH ROW WHEN ((NEW.balance_usd < OLD.balance_usd AND NEW.low_armed)
    OR (NEW.balance_usd > OLD.balance_usd AND NOT (NEW.low_armed AND NEW.exhausted_armed)))
  EXECUTE FUNCTION tollgate_credit_alerts();
