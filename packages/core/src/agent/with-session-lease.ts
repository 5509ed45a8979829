/**
 * `withSessionLease`: the serialization of SPEC §2.4 step 1 and §4.2 in one place. Work on a
 * session waits for its turn in process (a per-session queue), then for the storage lease across
 * processes; the lease is renewed every ttl/3 while the work runs and released afterwards, unless
 * the work's last write released it already (the `appendReleasesLease` capability).
 */
import { describeValue } from '../errors/describe-value.ts';
import type { Logger } from '../spec/logger.ts';
import type { SessionLease, SessionStorage } from '../spec/session-storage-v1.ts';
import type { KeyedMutex } from './keyed-mutex.ts';

/** Where and how long to hold a session. */
export interface SessionLeaseOptions {
  storage: SessionStorage;
  /** The in-process queue shared by every run of one Agent. */
  queue: KeyedMutex;
  sessionId: string;
  ttlMs: number;
  waitMs: number;
  logger: Logger;
  signal?: AbortSignal | undefined;
  /** Ask for the record with the lease when the storage declares `leaseReadsSession`. */
  readSession?: boolean;
}

/** What the work gets: the lease, and a way to say a write already released it. */
export interface HeldLease {
  readonly lease: SessionLease;
  /** Call when a write released the lease (`appendRun({ releaseLease })` said so). */
  released(): void;
}

/** Runs `work` while holding the session: first the in-process queue, then the storage lease. */
export function withSessionLease<T>(
  options: SessionLeaseOptions,
  work: (held: HeldLease) => Promise<T>,
): Promise<T> {
  const { storage, sessionId, ttlMs, logger } = options;
  return options.queue.run(sessionId, async () => {
    const lease = await storage.acquireLease({
      sessionId,
      ttlMs,
      waitMs: options.waitMs,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      ...(options.readSession === true && storage.capabilities?.leaseReadsSession === true
        ? { readSession: true }
        : {}),
    });
    let isReleased = false;
    const timer = setInterval(
      () => {
        if (isReleased) return;
        lease.renew().catch((error: unknown) => {
          logger.warn(`Could not renew the lease on session ${describeValue(sessionId)}`, {
            sessionId,
            error,
          });
        });
      },
      Math.max(Math.floor(ttlMs / 3), 50),
    );
    timer.unref();
    try {
      return await work({
        lease,
        released: () => {
          isReleased = true;
        },
      });
    } finally {
      clearInterval(timer);
      if (!isReleased) {
        await lease.release().catch((error: unknown) => {
          logger.warn(`Could not release the lease on session ${describeValue(sessionId)}`, {
            sessionId,
            error,
          });
        });
      }
    }
  });
}
