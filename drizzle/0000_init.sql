CREATE TABLE "api_keys" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"key_hash" text NOT NULL,
	"key_prefix" text NOT NULL,
	"monthly_budget_usd" numeric,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"revoked_at" timestamp with time zone,
	CONSTRAINT "api_keys_key_hash_unique" UNIQUE("key_hash")
);
--> statement-breakpoint
CREATE TABLE "api_provider_pricing" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "api_provider_pricing_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"provider" text NOT NULL,
	"model_name" text NOT NULL,
	"input_token_cost" numeric NOT NULL,
	"output_token_cost" numeric NOT NULL,
	"source" text NOT NULL,
	"retired" boolean DEFAULT false NOT NULL,
	"effective_from" timestamp with time zone DEFAULT now() NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "usage_logs" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "usage_logs_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"request_id" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"api_key_id" text,
	"provider" text NOT NULL,
	"model" text NOT NULL,
	"upstream_model" text,
	"stream" boolean NOT NULL,
	"status" text NOT NULL,
	"http_status" integer NOT NULL,
	"prompt_tokens" integer DEFAULT 0 NOT NULL,
	"completion_tokens" integer DEFAULT 0 NOT NULL,
	"total_tokens" integer DEFAULT 0 NOT NULL,
	"cached_tokens" integer DEFAULT 0 NOT NULL,
	"reasoning_tokens" integer DEFAULT 0 NOT NULL,
	"usage_source" text NOT NULL,
	"usage_raw" jsonb,
	"pricing_id" bigint,
	"input_token_cost" numeric NOT NULL,
	"output_token_cost" numeric NOT NULL,
	"pricing_source" text NOT NULL,
	"cost_input" numeric NOT NULL,
	"cost_output" numeric NOT NULL,
	"cost_total" numeric NOT NULL,
	"latency_ms" integer NOT NULL,
	"ttft_ms" integer,
	"upstream_request_id" text,
	"error" text
);
--> statement-breakpoint
CREATE INDEX "api_provider_pricing_lookup" ON "api_provider_pricing" USING btree ("provider","model_name","effective_from");--> statement-breakpoint
CREATE UNIQUE INDEX "usage_logs_request_id" ON "usage_logs" USING btree ("request_id");--> statement-breakpoint
CREATE INDEX "usage_logs_created_at" ON "usage_logs" USING btree ("created_at" DESC NULLS LAST,"id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "usage_logs_key_created_at" ON "usage_logs" USING btree ("api_key_id","created_at" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "usage_logs_model_created_at" ON "usage_logs" USING btree ("model","created_at" DESC NULLS LAST);