/** What Spacelift's API lists (stacks and spaces), read once per run, or why it could not be. */
import { EVENT_CLOCK_SKEW_MS } from "../audit-event.ts";
import type {
  SpaceliftDirectory,
  SpaceliftSpace,
  SpaceliftStack,
  UnusableSpaceliftResource,
} from "../ports.ts";
import type { StackEnvironment } from "../stack-environment.ts";
import { describeError } from "./describe-error.ts";

/** Spacelift's API, or why it cannot be used this run. */
export type SpaceliftAccess =
  | {
      readonly available: true;
      readonly directory: SpaceliftDirectory;
      /** With STACK_ENVIRONMENT=true: each listed stack's variables are checked and repaired. */
      readonly environment?: StackEnvironment;
    }
  | { readonly available: false; readonly reason: string };

/** Every stack and space Spacelift lists, as of one moment. */
export interface SpaceliftListing {
  readonly stacks: readonly SpaceliftStack[];
  readonly spaces: readonly SpaceliftSpace[];
  /**
   * What Spacelift listed with an ID that fails validation: reported and never converged, but
   * listed all the same, so no role is taken for an orphan because of it.
   */
  readonly unusable: readonly UnusableSpaceliftResource[];
  /**
   * As of when the lists are true, for the provisioner's ledger (ms): our clock just before
   * asking, less the clock skew allowed between us and Spacelift, so that an event Spacelift
   * dated after the listing is never taken for an older one.
   */
  readonly listedAt: number;
  readonly environment?: StackEnvironment | undefined;
}

/** Why Spacelift was not read; `failed` when it should have been. */
export interface SpaceliftUnread {
  readonly reason: string;
  readonly failed: boolean;
}

export async function readSpacelift(deps: {
  readonly spacelift: () => Promise<SpaceliftAccess>;
  readonly now: () => Date;
}): Promise<SpaceliftListing | SpaceliftUnread> {
  let access: SpaceliftAccess;
  try {
    access = await deps.spacelift();
  } catch (error) {
    return { reason: `cannot open Spacelift: ${describeError(error)}`, failed: true };
  }
  if (!access.available) return { reason: access.reason, failed: false };
  const listedAt = deps.now().getTime() - EVENT_CLOCK_SKEW_MS;
  try {
    const [stacks, spaces] = await Promise.all([
      access.directory.listStacks(),
      access.directory.listSpaces(),
    ]);
    return {
      stacks: stacks.usable,
      spaces: spaces.usable,
      unusable: [...spaces.unusable, ...stacks.unusable],
      listedAt,
      environment: access.environment,
    };
  } catch (error) {
    return { reason: `Spacelift API failed: ${describeError(error)}`, failed: true };
  }
}

/**
 * Every Spacelift account has at least its root space: an answer with nothing at all is what
 * an expired or unauthorised token looks like (spacelift-io/spacectl#79), not truth.
 */
export function isEmptyListing(listing: SpaceliftListing): boolean {
  return (
    listing.stacks.length === 0 && listing.spaces.length === 0 && listing.unusable.length === 0
  );
}
