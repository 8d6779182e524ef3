/**
 * The purchase rules: pure checks over a snapshot of the chain (the offering, the buyer's registry
 * record and funds as read at one block), each failure the API error the buyer sees. No I/O: the
 * service reads the snapshot (core/trading/purchases.ts) and calls these before anything is relayed.
 */
import type { Address } from 'viem';
import { ConflictError, NotAllowlistedError, SoldOutError } from '../platform/errors/index.ts';

const soldOut = (message: string, details?: unknown) => new SoldOutError(message, { details });
const notAllowlisted = (message: string, details?: unknown) => new NotAllowlistedError(message, { details });

/** The offering of one tranche and the buyer's registry record, as read at one block. */
export type OfferingState = {
  blockNumber: bigint;
  timestamp: bigint;
  payToken: Address;
  scale: bigint;
  offeringStart: bigint;
  offeringEnd: bigint;
  offeringClosed: boolean;
  /** Remaining cap in tranche-token base units. */
  remaining: bigint;
  allowed: boolean;
  expiry: bigint;
  frozen: boolean;
};

/** Offering open, buyer allowed, `amount` within the remaining cap: else the matching API error. */
export function assertCanBuy(state: OfferingState, buyer: Address, amount: bigint): void {
  if (state.offeringClosed || state.timestamp < state.offeringStart || state.timestamp > state.offeringEnd) {
    throw new ConflictError('The offering is not open', {
      details: {
        reason: 'OFFERING_NOT_OPEN',
        offeringStart: state.offeringStart.toString(),
        offeringEnd: state.offeringEnd.toString(),
        closed: state.offeringClosed,
        chainTime: state.timestamp.toString(),
      },
    });
  }
  if (!state.allowed) {
    throw notAllowlisted(
      state.frozen ? `${buyer} is frozen` : `${buyer} is not allowlisted (or the allowlisting expired)`,
      { buyer, frozen: state.frozen, expiry: state.expiry.toString() },
    );
  }
  if (state.remaining === 0n) throw soldOut('The tranche is sold out', { remaining: '0' });
  if (amount > state.remaining) {
    throw soldOut('The amount is above what remains of the tranche', {
      remaining: state.remaining.toString(),
    });
  }
}

/** The buyer's pay-token balance, allowance to the portfolio and permit nonce, as read at one block. */
export type Funds = { balance: bigint; allowance: bigint; tokenNonce: bigint };

/** Balance >= cost, and allowance >= cost or a permit whose nonce is still the token's. */
export function assertFunds(
  funds: Funds,
  parameters: {
    cost: bigint;
    /** The quoted permit nonce when a permit comes with the purchase. */
    permitNonce?: bigint;
  },
): void {
  const { balance, allowance, tokenNonce } = funds;
  const { cost } = parameters;
  if (balance < cost) {
    throw new ConflictError('The buyer’s pay-token balance is below the cost', {
      details: {
        reason: 'INSUFFICIENT_BALANCE',
        balance: balance.toString(),
        cost: cost.toString(),
      },
    });
  }
  if (allowance >= cost) return;
  if (parameters.permitNonce === undefined) {
    throw new ConflictError(
      'The buyer has not approved the cost to the portfolio; sign the permit of the quote',
      {
        details: {
          reason: 'INSUFFICIENT_ALLOWANCE',
          allowance: allowance.toString(),
          cost: cost.toString(),
        },
      },
    );
  }
  if (tokenNonce !== parameters.permitNonce) {
    throw new ConflictError(
      'The permit of this quote can no longer be used (the buyer signed another one); quote again',
      {
        details: {
          reason: 'PERMIT_NONCE_USED',
          allowance: allowance.toString(),
          cost: cost.toString(),
        },
      },
    );
  }
}
