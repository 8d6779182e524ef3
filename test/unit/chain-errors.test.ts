import { ContractFunctionRevertedError, encodeErrorResult } from 'viem';
import { describe, expect, it } from 'vitest';
import { decodeRevertData, toChainError } from '../../core/chain/errors.ts';
import { distributorAbi } from '../../core/chain/generated/index.ts';

/** The Distributor's root-total errors decode from bare revert data (every generated ABI) to a named ChainError. */
describe('core/chain/errors: Distributor root total', () => {
  const cases = [
    { errorName: 'DistributorRootTotalExceeded', args: [1000n, 600n], code: 'CONFLICT' },
    {
      errorName: 'DistributorRootUnclaimedTooLarge',
      args: [2n ** 88n, 2n ** 88n - 1n],
      code: 'VALIDATION_FAILED',
    },
  ] as const;

  it.each(cases)('$errorName decodes with its arguments and maps to $code', ({ errorName, args, code }) => {
    const data = encodeErrorResult({ abi: distributorAbi, errorName, args });
    expect(decodeRevertData(data)).toEqual({ errorName, args });
    const error = toChainError(
      new ContractFunctionRevertedError({ abi: [], data, functionName: 'claimMany' }),
      {
        contract: 'Distributor',
        functionName: 'claimMany',
      },
    );
    expect(error.kind).toBe('revert');
    expect(error.errorName).toBe(errorName);
    expect(error.args).toEqual(args);
    expect(error.code).toBe(code);
    expect(error.retryable).toBe(false);
    expect(error.message).toBe(`Distributor.claimMany: reverted with ${errorName}(${args.join(', ')})`);
  });
});
