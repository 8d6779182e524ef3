-- Marketplace (issue 11, findings 8 and 9).
--
-- A sell order carries the maker's `maxFeeBps` (part of the signed EIP-712 Order): a fill while the
-- marketplace fee is above it reverts. Orders stored before carry 0: they were signed over the old Order
-- type, which the new Marketplace does not accept anyway.
ALTER TABLE "sell_order" ADD COLUMN "max_fee_bps" INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "sell_order" ALTER COLUMN "max_fee_bps" DROP DEFAULT;

-- `OrderFilled` carries the fill-intent nonce the fill used (DIRECT_FILL_NONCE = 2^256 - 1 for a direct
-- fill); rows indexed before have none.
ALTER TABLE "order_filled_event" ADD COLUMN "nonce" DECIMAL(78,0);
