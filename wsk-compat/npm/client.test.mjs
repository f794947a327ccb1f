// Drives a running Brisk server through the openwhisk npm client.
//
// Needs __OW_API_HOST (e.g. http://127.0.0.1:3233) and __OW_API_KEY
// (uuid:key); TestNpmClient in wsk-compat sets both. Without them every test
// is skipped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import openwhisk from 'openwhisk';
import { apihost, apiKey, skip, ID_RE, client, source, unique, eventually } from './helpers.mjs';

const NOT_FOUND = 'The requested resource does not exist.';

test('actions: create, get, list, invoke, delete', { skip }, async () => {
  const ow = client();
  const name = unique('npm-hello');
  const code = source('nodejs/hello.js');

  const created = await ow.actions.create({ name, action: code, kind: 'nodejs:20' });
  assert.equal(created.name, name);
  assert.equal(created.namespace, 'guest');
  assert.equal(created.version, '0.0.1');
  assert.equal(created.exec.kind, 'nodejs:20');
  assert.equal(created.exec.binary, false);

  const got = await ow.actions.get({ name });
  assert.equal(got.exec.code, code);
  const noCode = await ow.actions.get({ name, code: false });
  assert.equal(noCode.exec.code, undefined);
  assert.equal(noCode.exec.kind, 'nodejs:20');

  const listed = await ow.actions.list({ limit: 200 });
  assert.ok(Array.isArray(listed));
  const entry = listed.find((a) => a.name === name);
  assert.ok(entry, `${name} is listed`);
  assert.equal(entry.exec.code, undefined);
  const count = await ow.actions.list({ count: true });
  assert.equal(typeof count.actions, 'number');
  assert.ok(count.actions >= 1);

  const result = await ow.actions.invoke({ name, params: { name: 'npm' }, blocking: true, result: true });
  assert.deepEqual(result, { payload: 'Hello, npm!' });

  const activation = await ow.actions.invoke({ name, params: { name: 'full' }, blocking: true });
  assert.match(activation.activationId, ID_RE);
  assert.equal(activation.name, name);
  assert.equal(activation.response.status, 'success');
  assert.equal(activation.response.success, true);
  assert.deepEqual(activation.response.result, { payload: 'Hello, full!' });

  const updated = await ow.actions.update({ name, action: source('nodejs/echo.js'), kind: 'nodejs:20' });
  assert.equal(updated.version, '0.0.2');
  assert.deepEqual(await ow.actions.invoke({ name, params: { a: 1 }, blocking: true, result: true }), { a: 1 });

  const deleted = await ow.actions.delete({ name });
  assert.equal(deleted.name, name);
  await assert.rejects(ow.actions.get({ name }), (err) => {
    assert.equal(err.statusCode, 404);
    assert.equal(err.error.error, NOT_FOUND);
    assert.match(err.message, /Returned HTTP 404/);
    return true;
  });
});

test('python action through npm', { skip }, async () => {
  const ow = client();
  const name = unique('npm-py');
  await ow.actions.create({ name, action: source('python/hello.py'), kind: 'python:3.11' });
  const result = await ow.actions.invoke({ name, params: { name: 'snake' }, blocking: true, result: true });
  assert.deepEqual(result, { payload: 'Hello, snake!' });
  await ow.actions.delete(name);
});

test('activations: non-blocking invoke, get, list, logs, result', { skip }, async () => {
  const ow = client();
  const name = unique('npm-logs');
  await ow.actions.create({ name, action: source('nodejs/logs.js'), kind: 'nodejs:20' });

  const accepted = await ow.actions.invoke({ name, params: { count: 2 } });
  assert.deepEqual(Object.keys(accepted), ['activationId']);
  const id = accepted.activationId;
  assert.match(id, ID_RE);

  const activation = await eventually(() => ow.activations.get({ activationId: id }));
  assert.equal(activation.activationId, id);
  assert.equal(activation.name, name);
  assert.equal(activation.namespace, 'guest');
  assert.equal(activation.response.status, 'success');
  assert.deepEqual(activation.response.result, { printed: 2 });

  const result = await ow.activations.result({ activationId: id });
  assert.equal(result.success, true);
  assert.equal(result.status, 'success');
  assert.deepEqual(result.result, { printed: 2 });

  const { logs } = await eventually(async () => {
    const l = await ow.activations.logs({ activationId: id });
    if (l.logs.length === 0) {
      const err = new Error('no logs yet');
      err.statusCode = 404;
      throw err;
    }
    return l;
  });
  const stdout = logs.filter((l) => / stdout: /.test(l)).map((l) => l.replace(/^\S+ +stdout: /, ''));
  const stderr = logs.filter((l) => / stderr: /.test(l)).map((l) => l.replace(/^\S+ +stderr: /, ''));
  assert.deepEqual(stdout, ['compat log line 1', 'compat log line 2']);
  assert.deepEqual(stderr, ['compat error line']);
  for (const line of logs) {
    assert.match(line, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z +(stdout|stderr): /);
  }

  const listed = await ow.activations.list({ name, limit: 10 });
  assert.equal(listed.length, 1);
  assert.equal(listed[0].activationId, id);
  const docs = await ow.activations.list({ name, limit: 10, docs: true });
  assert.deepEqual(docs[0].response.result, { printed: 2 });

  await ow.actions.delete(name);
});

test('errors: missing action, application error', { skip }, async () => {
  const ow = client();
  const missing = unique('npm-missing');
  for (const call of [
    () => ow.actions.get({ name: missing }),
    () => ow.actions.invoke({ name: missing, blocking: true }),
    () => ow.actions.delete({ name: missing }),
    () => ow.activations.get({ activationId: '0123456789abcdef0123456789abcdef' }),
  ]) {
    await assert.rejects(call(), (err) => {
      assert.equal(err.statusCode, 404);
      assert.equal(err.error.error, NOT_FOUND);
      assert.match(err.error.code, /^\S+$/);
      return true;
    });
  }

  const name = unique('npm-apperror');
  await ow.actions.create({ name, action: source('nodejs/apperror.js'), kind: 'nodejs:20' });
  await assert.rejects(ow.actions.invoke({ name, params: { why: 'npm' }, blocking: true }), (err) => {
    assert.equal(err.statusCode, 502);
    assert.equal(err.error.response.status, 'application error');
    assert.equal(err.error.response.result.error, 'bad input: npm');
    assert.match(err.message, /bad input: npm/);
    return true;
  });

  await assert.rejects(ow.actions.create({ name, action: source('nodejs/hello.js'), kind: 'nodejs:20' }), (err) => {
    assert.equal(err.statusCode, 409);
    assert.equal(err.error.error, 'resource already exists');
    return true;
  });

  await assert.rejects(
    openwhisk({ apihost, api_key: apiKey.split(':')[0] + ':' + 'k'.repeat(64) }).actions.list(),
    (err) => {
      assert.equal(err.statusCode, 401);
      assert.equal(err.error.error, 'The supplied authentication is invalid');
      return true;
    },
  );
  await ow.actions.delete(name);
});
