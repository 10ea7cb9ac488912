-- The spend trigger of 0002, its keys upserted in (api_key_id, period) order: two replicas inserting
-- batches that share keys lock key_spend rows in the same order and cannot deadlock each other.
CREATE OR REPLACE FUNCTION tollgate_settle_spend() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  WITH settled AS (
    SELECT api_key_id,
           date_trunc('month', created_at AT TIME ZONE 'UTC')::date AS period,
           sum(cost_total) AS spent,
           sum(coalesce(reserved_usd, 0)) AS released
    FROM inserted
    WHERE api_key_id IS NOT NULL
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
