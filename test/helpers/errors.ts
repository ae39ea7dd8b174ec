import { expect } from "vitest";
import { isUserFacing, type UserFacingError } from "../../core/errors.js";

/** The error the promise rejects with, which must be a UserFacingError; fails when it resolves. */
export async function failure(promise: Promise<unknown>): Promise<UserFacingError> {
  try {
    await promise;
  } catch (err) {
    expect(isUserFacing(err)).toBe(true);
    return err as UserFacingError;
  }
  throw new Error("expected a rejection");
}
