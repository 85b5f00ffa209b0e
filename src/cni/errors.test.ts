/**
 * The CNI error codes are a wire contract (the specification's "Error codes", 1.1.0): a test
 * titled "code 4" asserts `CniCode.InvalidEnvironment`, so the numbers are pinned here.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CniCode } from './errors.ts';

describe('CNI error codes', () => {
  it("keep the specification's numbers (1-7, 11, 50) and this plugin's (100-103, 999)", () => {
    assert.deepEqual(
      { ...CniCode },
      {
        IncompatibleVersion: 1,
        UnsupportedField: 2,
        UnknownContainer: 3,
        InvalidEnvironment: 4,
        IoFailure: 5,
        DecodingFailure: 6,
        InvalidConfig: 7,
        TryAgainLater: 11,
        NotAvailable: 50,
        Romanad: 100,
        Wiring: 101,
        CheckFailed: 102,
        Kubernetes: 103,
        Internal: 999,
      },
    );
  });
});
