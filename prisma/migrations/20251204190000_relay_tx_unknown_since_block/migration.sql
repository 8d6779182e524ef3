-- A relay row whose nonce is used on chain while none of its signed variants has a receipt yet is
-- "unknown" (still status `pending`): a load-balanced RPC may answer the nonce before the receipt.
-- The relayer records the block at which it first saw that, so the bound (a number of blocks) holds
-- across restarts and between relayer processes; NULL when the row is not in that state.
ALTER TABLE "relay_tx" ADD COLUMN "unknown_since_block" BIGINT;
