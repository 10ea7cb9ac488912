ALTER TABLE "api_keys" ADD COLUMN "max_concurrent" integer;--> statement-breakpoint
ALTER TABLE "usage_logs" ADD COLUMN "served_by" text;--> statement-breakpoint
ALTER TABLE "usage_logs" ADD COLUMN "endpoint" text DEFAULT 'chat.completions' NOT NULL;--> statement-breakpoint
ALTER TABLE "usage_logs" ADD COLUMN "end_user" text;--> statement-breakpoint
ALTER TABLE "usage_logs" ADD COLUMN "tags" text[];--> statement-breakpoint
ALTER TABLE "usage_logs" ADD COLUMN "cached_input_token_cost" numeric;