// Shared set-up of the npm client tests (not a test file itself).
//
// The tests need __OW_API_HOST and __OW_API_KEY (TestNpmClient sets both);
// without them every test is skipped.
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import openwhisk from 'openwhisk';

export const apihost = process.env.__OW_API_HOST;
export const apiKey = process.env.__OW_API_KEY;
export const skip = !apihost || !apiKey ? 'set __OW_API_HOST and __OW_API_KEY to run against a server' : false;
export const ID_RE = /^[0-9a-f]{32}$/;

// client is the openwhisk client for the guest key.
export function client() {
  return openwhisk({ apihost, api_key: apiKey, ignore_certs: true });
}

// source reads an action from wsk-compat/actions.
export function source(rel) {
  return readFileSync(new URL('../actions/' + rel, import.meta.url), 'utf8');
}

export function unique(prefix) {
  return prefix + '-' + randomBytes(4).toString('hex');
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// eventually polls fn until it resolves (404 means "not yet"), for at most ms.
export async function eventually(fn, ms = 60000) {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (err.statusCode !== 404 || Date.now() > deadline) throw err;
    }
    await sleep(200);
  }
}
