-- 0018: requests refused at admission (budget, credits, rpm, tpm, concurrency) write no usage row, so
-- they are counted here per key, UTC day and reason; each replica adds its counts in batches (upsert).
-- No foreign key: a batch written after a key is deleted must not fail for it.
CREATE TABLE "key_refusals" (
	"api_key_id" text NOT NULL,
	"day" date NOT NULL,
	"reason" text NOT NULL,
	"count" bigint DEFAULT 0 NOT NULL,
	CONSTRAINT "key_refusals_pk" PRIMARY KEY("api_key_id","day","reason"),
	CONSTRAINT "key_refusals_reason_check" CHECK ("reason" IN ('budget', 'credits', 'rpm', 'tpm', 'concurrency')),
	CONSTRAINT "key_refusals_count_check" CHECK ("count" >= 0)
);
--> statement-breakpoint
CREATE INDEX "key_refusals_day_idx" ON "key_refusals" ("day");
