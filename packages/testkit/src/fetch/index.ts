export { collectStream } from './collect-stream.ts';
export { expectBuddyError, expectBuddyRejection, expectBuddyThrow } from './expect-buddy-error.ts';
export {
  createFixtureFetch,
  type FixtureFetch,
  type FixtureResponder,
  type FixtureRoute,
  type RecordedRequest,
} from './fixture-fetch.ts';
export { loadChunksFixture, loadJsonFixture } from './fixture-files.ts';
export {
  type FixtureResponse,
  type FixtureResponseInit,
  formatSseEvent,
  jsonResponse,
  type SseDialect,
  sseResponse,
  sseTerminator,
  textResponse,
} from './fixture-response.ts';
export { type FixtureServer, startFixtureServer } from './fixture-server.ts';
export {
  bodyOf,
  createProviderFixtures,
  isStreamRequest,
  type ProviderFixtures,
  type ProviderFixturesOptions,
} from './provider-fixtures.ts';
export { useEnv } from './use-env.ts';
