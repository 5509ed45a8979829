/**
 * Key layout shared by `RedisStorage` and `RedisMemoryDb`. Every per-session key carries the
 * session id as its `{hash tag}`, so the keys a script touches live in one Cluster slot; indexes
 * are tagged by the user or agent they belong to.
 */

/** The default key prefix. */
export const DEFAULT_PREFIX = 'buddy:';

/**
 * Makes an id safe inside a `{hash tag}`: `%`, `{` and `}` are percent-encoded, everything else
 * stays readable. Without this a `}` inside an id would end the tag early (an id starting with `}`
 * even gives an empty tag, which Redis ignores, scattering one session over several slots).
 */
export function encodeKeyPart(value: string): string {
  return value.replace(/[%{}]/g, (character) =>
    character === '%' ? '%25' : character === '{' ? '%7B' : '%7D',
  );
}

/** The keys of one prefix. Members of the sorted sets are raw (unencoded) ids. */
export class RedisKeys {
  readonly prefix: string;

  constructor(prefix: string) {
    this.prefix = prefix;
  }

  /**
   * Hash: state, name, summary, version, run count, timestamps, owner, agent, incarnation,
   * metadata, paused run, and how many runs `prune` dropped from the front of the run list.
   */
  session(sessionId: string): string {
    return `${this.prefix}s:{${encodeKeyPart(sessionId)}}`;
  }

  /** List: one JSON run per entry; the list position is the run's index. */
  runs(sessionId: string): string {
    return `${this.prefix}r:{${encodeKeyPart(sessionId)}}`;
  }

  /**
   * Hash of the run ids stored in the session: field = runId, value = `index:version:updatedAt`
   * of that append, so a resent append is answered with its first result instead of stored twice.
   */
  runIds(sessionId: string): string {
    return `${this.prefix}i:{${encodeKeyPart(sessionId)}}`;
  }

  /** String: the token of the run holding the session's lease (`SET NX PX`). */
  lease(sessionId: string): string {
    return `${this.prefix}l:{${encodeKeyPart(sessionId)}}`;
  }

  /** Sorted set of a user's sessions: score = updatedAt, member = sessionId. */
  userIndex(userId: string): string {
    return `${this.prefix}u:{${encodeKeyPart(userId)}}`;
  }

  /** Sorted set of the sessions an agent created: score = updatedAt, member = sessionId. */
  agentIndex(agentId: string): string {
    return `${this.prefix}a:{${encodeKeyPart(agentId)}}`;
  }

  /** Sorted set of every session, for listing without a user. */
  allIndex(): string {
    return `${this.prefix}all`;
  }

  /** Hash of a user's memories: field = memory id, value = JSON row. */
  memories(userId: string): string {
    return `${this.prefix}m:{${encodeKeyPart(userId)}}`;
  }

  /**
   * Hash of a user's memory embeddings: field = memory id, value = the vector as little-endian
   * float64 (8 bytes per dimension). Same tag as `memories`, so a row and its vector are written
   * and deleted together.
   */
  memoryEmbeddings(userId: string): string {
    return `${this.prefix}me:{${encodeKeyPart(userId)}}`;
  }

  /** String: the user owning a memory id, so no other user can take the id over. */
  memoryOwner(id: string): string {
    return `${this.prefix}mid:{${encodeKeyPart(id)}}`;
  }
}
