-- Trust-minimised contracts (issue 11, finding 3): the Distributor's claimMany skips a holder the
-- portfolio's ComplianceRegistry does not allow (frozen, revoked, expired) and rolls back a holder whose
-- pay-token transfer fails, emitting ClaimSkipped; the payout stays claimable. `push_skipped` records,
-- from the batch's receipt, why a pushed holder was not paid (`not_allowed`, `transfer_failed`; null:
-- paid or not pushed), so that the next distribution's push includes the holder again.
ALTER TABLE "distribution_holder" ADD COLUMN "push_skipped" TEXT;
