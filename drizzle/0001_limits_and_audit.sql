CREATE TABLE "admin_audit" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "admin_audit_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"actor" text NOT NULL,
	"action" text NOT NULL,
	"target" text,
	"details" jsonb
);
--> statement-breakpoint
CREATE TABLE "key_rate_windows" (
	"api_key_id" text NOT NULL,
	"window_start" timestamp with time zone NOT NULL,
	"requests" integer DEFAULT 0 NOT NULL,
	"tokens" bigint DEFAULT 0 NOT NULL,
	CONSTRAINT "key_rate_windows_api_key_id_window_start_pk" PRIMARY KEY("api_key_id","window_start")
);
--> statement-breakpoint
CREATE TABLE "key_spend" (
	"api_key_id" text NOT NULL,
	"period" date NOT NULL,
	"spent_usd" numeric DEFAULT '0' NOT NULL,
	"reserved_usd" numeric DEFAULT '0' NOT NULL,
	CONSTRAINT "key_spend_api_key_id_period_pk" PRIMARY KEY("api_key_id","period")
);
--> statement-breakpoint
ALTER TABLE "api_keys" ADD COLUMN "rpm_limit" integer;--> statement-breakpoint
ALTER TABLE "api_keys" ADD COLUMN "tpm_limit" integer;--> statement-breakpoint
ALTER TABLE "usage_logs" ADD COLUMN "reserved_usd" numeric;--> statement-breakpoint
CREATE INDEX "admin_audit_created_at" ON "admin_audit" USING btree ("created_at" DESC NULLS LAST);