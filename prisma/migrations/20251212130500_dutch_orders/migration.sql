-- Dutch-auction sell orders (issue 13): the signed Order gains startPriceBps, endPriceBps (uint16, bps of
-- price), decayStart and decayEnd (uint64 unix seconds); decayEnd = 0 is no decay. Orders stored before
-- this migration were signed without decay: all four 0 (the Marketplace they were signed for hashes the
-- older Order type; these rows only describe them).

-- AlterTable
ALTER TABLE "sell_order" ADD COLUMN "start_price_bps" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN "end_price_bps" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN "decay_start" DECIMAL(20,0) NOT NULL DEFAULT 0,
ADD COLUMN "decay_end" DECIMAL(20,0) NOT NULL DEFAULT 0;

ALTER TABLE "sell_order" ALTER COLUMN "start_price_bps" DROP DEFAULT,
ALTER COLUMN "end_price_bps" DROP DEFAULT,
ALTER COLUMN "decay_start" DROP DEFAULT,
ALTER COLUMN "decay_end" DROP DEFAULT;
