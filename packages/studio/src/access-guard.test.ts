import { describe, expect, it } from 'vitest';
import { guardApiRequest, isLoopbackHost, tokenMatches } from './access-guard.ts';

describe('isLoopbackHost', () => {
  it.each(['127.0.0.1', '127.1.2.3', 'localhost', 'LOCALHOST', 'app.localhost', '::1', '[::1]'])(
    '%s is loopback',
    (host) => expect(isLoopbackHost(host)).toBe(true),
  );
  it.each([
    '0.0.0.0',
    '::',
    '192.168.1.2',
    'example.com',
    'localhost.example.com',
    '127.0.0.1.nip.io',
    '1270.0.0.1',
  ])('%s is not', (host) => expect(isLoopbackHost(host)).toBe(false));
});

describe('tokenMatches', () => {
  it('accepts only the exact token, whatever the lengths', () => {
    const token = 'correct-horse-battery-staple';
    expect(tokenMatches(token, token)).toBe(true);
    expect(tokenMatches(token, `${token} `)).toBe(false);
    expect(tokenMatches(token, token.slice(0, -1))).toBe(false);
    expect(tokenMatches(token, '')).toBe(false);
    expect(tokenMatches(token, token.toUpperCase())).toBe(false);
  });
});

describe('guardApiRequest', () => {
  const request = (
    headers: Record<string, string>,
    method = 'GET',
    url = 'http://127.0.0.1:4321/api/info',
  ) => new Request(url, { method, headers });

  it('passes a plain loopback GET without a token', () => {
    expect(guardApiRequest(request({}), undefined)).toBeUndefined();
  });

  it('needs JSON bodies for POST and PATCH', async () => {
    const refused = guardApiRequest(request({ 'content-type': 'text/plain' }, 'POST'), undefined);
    expect(refused?.status).toBe(400);
    expect(await refused?.json()).toEqual({
      error: { code: 'INVALID_ARGUMENT', message: expect.stringContaining('application/json') },
    });
    expect(
      guardApiRequest(
        request({ 'content-type': 'application/json; charset=utf-8' }, 'PATCH'),
        undefined,
      ),
    ).toBeUndefined();
  });

  it('accepts the bearer scheme in any case and refuses other schemes', () => {
    const token = 'x'.repeat(20);
    expect(guardApiRequest(request({ authorization: `bearer ${token}` }), token)).toBeUndefined();
    expect(guardApiRequest(request({ authorization: `Token ${token}` }), token)?.status).toBe(401);
    expect(
      guardApiRequest(request({ authorization: `Bearer ${token} extra` }), token)?.status,
    ).toBe(401);
  });
});
