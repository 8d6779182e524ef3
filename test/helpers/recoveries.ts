import type { Hex, LocalAccount, TypedDataDefinition } from 'viem';
import { expect } from 'vitest';
import type { TestApp } from './app.ts';
import type { Headers } from './auth.ts';

/** The answer of POST /v1/portfolios/:id/recoveries/intents (docs/api.md). */
export type DepositIntentAnswer = {
  nonce: string;
  deadline: string;
  servicer: string;
  portfolio: string;
  typedData: { deposit: TypedDataDefinition; invalidation: TypedDataDefinition };
};

export type RecoveryBody = { amount: string; reportSha256: string };

/** Asks the API for the DepositIntent of `body` (as `headers`, a servicer key); expects 200. */
export async function depositIntent(
  t: TestApp,
  parameters: { portfolioId: string; headers: Headers; body: RecoveryBody },
): Promise<DepositIntentAnswer> {
  const res = await t.app.inject({
    method: 'POST',
    url: `/v1/portfolios/${parameters.portfolioId}/recoveries/intents`,
    headers: parameters.headers,
    payload: parameters.body,
  });
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as DepositIntentAnswer;
}

/**
 * A deposit the servicer consents to: the DepositIntent of `body` (`depositIntent`) signed by
 * `signer` (the servicer's own key), and the POST /v1/portfolios/:id/recoveries body that carries it.
 */
export async function signedDeposit(
  t: TestApp,
  parameters: { portfolioId: string; headers: Headers; body: RecoveryBody; signer: LocalAccount },
): Promise<{
  intent: DepositIntentAnswer;
  payload: RecoveryBody & { servicerSignature: Hex; nonce: string; deadline: string };
}> {
  const intent = await depositIntent(t, parameters);
  const servicerSignature = await parameters.signer.signTypedData(intent.typedData.deposit);
  return {
    intent,
    payload: { ...parameters.body, servicerSignature, nonce: intent.nonce, deadline: intent.deadline },
  };
}
