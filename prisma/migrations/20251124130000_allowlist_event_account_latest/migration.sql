-- The indexer's investor refresh looks up each account's latest allowlist/freeze event
-- (WHERE chain_id = $1 AND account = $2 ORDER BY block_number DESC, log_index DESC LIMIT 1). With
-- only (account) and (chain_id, block_number), a table that grew within one sync (stale statistics)
-- got a BitmapAnd over every row of the chain per account: quadratic, minutes for a 100k-account
-- allowlistMany. This index answers the lookup directly.
CREATE INDEX "allowlist_event_chain_id_account_block_number_log_index_idx" ON "allowlist_event"("chain_id", "account", "block_number", "log_index");
