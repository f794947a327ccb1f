// Drives packages, bindings and the shared /whisk.system namespace through
// the openwhisk npm client (ow.packages.*).
//
// Needs __OW_API_HOST and __OW_API_KEY (guest) like client.test.mjs; the
// whisk.system key is upstream's well-known one that standalone installs
// (override with BRISK_SYSTEM_KEY).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import openwhisk from 'openwhisk';
import { apihost, skip, client as guest, source, unique } from './helpers.mjs';

const systemKey = process.env.BRISK_SYSTEM_KEY ||
  '789c46b1-71f6-4ed5-8c54-816aa4f8c502:abczO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP';

const NOT_FOUND = 'The requested resource does not exist.';
const forbidden = (what) => `The supplied authentication is not authorized to access '${what}'.`;

const system = () => openwhisk({ apihost, api_key: systemKey, ignore_certs: true });
const echo = source('nodejs/echo.js');

// params turns a key/value array into an object.
const params = (kvs) => Object.fromEntries(kvs.map(({ key, value }) => [key, value]));

async function rejectsWith(promise, status, message) {
  await assert.rejects(promise, (err) => {
    assert.equal(err.statusCode, status, `status of ${err.message}`);
    assert.equal(err.error.error, message);
    return true;
  });
}

test('packages: create, update, get, list, count, delete', { skip }, async () => {
  const ow = guest();
  const name = unique('npm-pkg');

  const created = await ow.packages.create({
    name,
    package: { parameters: [{ key: 'place', value: 'package' }] },
    annotations: { owner: 'npm' },
  });
  assert.equal(created.namespace, 'guest');
  assert.equal(created.version, '0.0.1');
  assert.equal(created.publish, false);
  assert.deepEqual(created.binding, {});
  assert.deepEqual(created.annotations, [{ key: 'owner', value: 'npm' }]);
  await rejectsWith(ow.packages.create({ name }), 409, 'resource already exists');

  const updated = await ow.packages.update({ name, package: { publish: true } });
  assert.equal(updated.version, '0.0.2');
  assert.equal(updated.publish, true);
  assert.deepEqual(params(updated.parameters), { place: 'package' });

  await ow.actions.create({ name: `${name}/echo`, action: echo, kind: 'nodejs:20', params: { shape: 'circle' } });
  const got = await ow.packages.get({ name });
  assert.deepEqual(got.actions.map((a) => a.name), ['echo']);
  assert.deepEqual(got.feeds, []);
  const result = await ow.actions.invoke({ name: `${name}/echo`, params: { extra: 1 }, blocking: true, result: true });
  assert.deepEqual(result, { place: 'package', shape: 'circle', extra: 1 });

  const listed = await ow.packages.list({ limit: 200 });
  const entry = listed.find((p) => p.name === name);
  assert.ok(entry, `${name} is listed`);
  assert.equal(entry.binding, false);
  assert.equal(entry.parameters, undefined);
  const count = await ow.packages.list({ count: true });
  assert.ok(count.packages >= 1);

  await rejectsWith(ow.packages.delete({ name }), 409,
    'Package not empty (contains 1 entity). Set force param or delete package contents.');
  await ow.actions.delete({ name: `${name}/echo` });
  const deleted = await ow.packages.delete({ name });
  assert.equal(deleted.name, name);
  // Upstream names a missing package (its entitlement check reads it); a delete does not.
  await rejectsWith(ow.packages.get({ name }), 404, `The requested resource 'guest/${name}' does not exist.`);
  await rejectsWith(ow.packages.delete({ name }), 404, NOT_FOUND);
  await rejectsWith(ow.packages.create({ name: 'default' }), 400, "Package name 'default' is reserved.");
});

test('packages: /whisk.system shared with every user, bindings with parameters', { skip }, async () => {
  const sys = system();
  const ow = guest();
  const shared = unique('npm-shared');
  const hidden = unique('npm-hidden');

  await sys.packages.create({
    name: shared,
    package: { publish: true, parameters: [{ key: 'place', value: 'system' }, { key: 'who', value: 'package' }] },
  });
  await sys.actions.create({ name: `${shared}/echo`, action: echo, kind: 'nodejs:20', params: { who: 'action' } });
  await sys.packages.create({ name: hidden });

  const pkg = await ow.packages.get({ name: `/whisk.system/${shared}` });
  assert.equal(pkg.namespace, 'whisk.system');
  assert.deepEqual(pkg.actions.map((a) => a.name), ['echo']);
  const visible = await ow.packages.list({ namespace: 'whisk.system', limit: 200 });
  // The public view: the shared package (and built-in ones such as alarms), never the private one.
  assert.deepEqual(visible.map((p) => p.name).filter((n) => n === shared || n === hidden), [shared]);
  const direct = await ow.actions.invoke({ name: `/whisk.system/${shared}/echo`, blocking: true, result: true });
  assert.deepEqual(direct, { place: 'system', who: 'action' });

  await rejectsWith(ow.packages.get({ name: `/whisk.system/${hidden}` }), 403, forbidden(`whisk.system/${hidden}`));
  await rejectsWith(ow.packages.delete({ name: `/whisk.system/${shared}` }), 403, forbidden(`whisk.system/${shared}`));
  await rejectsWith(ow.packages.create({ name: unique('npm-bad'), package: { binding: { namespace: 'whisk.system', name: hidden } } }),
    403, forbidden(`whisk.system/${hidden}`));

  const name = unique('npm-binding');
  const binding = await ow.packages.create({
    name,
    package: { binding: { namespace: 'whisk.system', name: shared }, parameters: [{ key: 'place', value: 'binding' }] },
  });
  assert.deepEqual(binding.binding, { namespace: 'whisk.system', name: shared });
  assert.deepEqual(binding.annotations, [{ key: 'binding', value: { namespace: 'whisk.system', name: shared } }]);
  const got = await ow.packages.get({ name });
  assert.deepEqual(params(got.parameters), { place: 'binding', who: 'package' });
  assert.deepEqual(got.actions.map((a) => a.name), ['echo']);

  const activation = await ow.actions.invoke({ name: `${name}/echo`, params: { extra: 'y' }, blocking: true });
  assert.deepEqual(activation.response.result, { place: 'binding', who: 'action', extra: 'y' });
  assert.equal(activation.namespace, 'guest');
  const ann = params(activation.annotations);
  assert.equal(ann.binding, `guest/${name}`);
  assert.equal(ann.path, `whisk.system/${shared}/echo`);

  const action = await ow.actions.get({ name: `${name}/echo` });
  assert.equal(action.namespace, `whisk.system/${shared}`);
  assert.deepEqual(params(action.parameters), { place: 'binding', who: 'action' });
  await rejectsWith(ow.actions.create({ name: `${name}/new`, action: echo, kind: 'nodejs:20' }), 400,
    'Operation not permitted on package binding.');

  await ow.packages.delete({ name });
  await sys.actions.delete({ name: `${shared}/echo` });
  await sys.packages.delete({ name: shared });
  await sys.packages.delete({ name: hidden });
});
