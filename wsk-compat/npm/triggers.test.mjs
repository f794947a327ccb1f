// Drives triggers, rules and the built-in alarms feeds of a running Brisk
// server through the openwhisk npm client (ow.triggers, ow.rules, ow.feeds).
//
// Needs __OW_API_HOST and __OW_API_KEY like client.test.mjs; without them
// every test is skipped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { skip, ID_RE, client, unique, sleep } from './helpers.mjs';

const ECHO = 'function main(params) { return params; }';

// Polls fn until it returns a truthy value (404 means "not yet"), for at most ms.
async function eventually(fn, ms = 60000) {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      if (err.statusCode !== 404) throw err;
    }
    if (Date.now() > deadline) throw new Error('condition not met within ' + ms + ' ms');
    await sleep(200);
  }
}

test('triggers and rules: create, enable, disable, fire, delete', { skip }, async () => {
  const ow = client();
  const action = unique('npm-rule-echo');
  const trigger = unique('npm-trigger');
  const rule = unique('npm-rule');
  await ow.actions.create({ name: action, action: ECHO, kind: 'nodejs:20' });

  const t = await ow.triggers.create({ name: trigger, trigger: { parameters: [{ key: 'origin', value: 'trigger' }] } });
  assert.equal(t.name, trigger);
  assert.equal(t.namespace, 'guest');
  assert.deepEqual(t.limits, {});

  // No rule yet: the fire is accepted without an activation (204).
  const none = await ow.triggers.invoke({ name: trigger, params: { a: 1 } });
  assert.ok(!none || !none.activationId);

  const r = await ow.rules.create({ name: rule, trigger, action });
  assert.equal(r.status, 'active');
  assert.deepEqual(r.trigger, { path: 'guest', name: trigger });
  assert.deepEqual(r.action, { path: 'guest', name: action });

  await ow.rules.disable({ name: rule });
  assert.equal((await ow.rules.get({ name: rule })).status, 'inactive');
  // With only an inactive rule, nothing is fired.
  const quiet = await ow.triggers.invoke({ name: trigger });
  assert.ok(!quiet || !quiet.activationId);
  await ow.rules.enable({ name: rule });
  assert.equal((await ow.rules.get({ name: rule })).status, 'active');

  const listed = await ow.rules.list();
  const entry = listed.find((x) => x.name === rule);
  assert.ok(entry, 'rule is listed');
  assert.equal(entry.status, undefined, 'listed rules carry no status');
  assert.ok((await ow.triggers.list()).some((x) => x.name === trigger));

  const fired = await ow.triggers.invoke({ name: trigger, params: { payload: 'from npm' } });
  assert.match(fired.activationId, ID_RE);
  const record = await eventually(() => ow.activations.get({ name: fired.activationId }));
  assert.equal(record.name, trigger);
  assert.equal(record.end, undefined);
  assert.deepEqual(record.response.result, { payload: 'from npm' });
  assert.equal(record.logs.length, 1);
  const line = JSON.parse(record.logs[0]);
  assert.equal(line.rule, `guest/${rule}`);
  assert.equal(line.action, `guest/${action}`);
  assert.equal(line.success, true);
  assert.match(line.activationId, ID_RE);

  const run = await eventually(() => ow.activations.get({ name: line.activationId }));
  assert.equal(run.response.result.payload, 'from npm');
  assert.equal(run.response.result.origin, 'trigger');

  const deleted = await ow.rules.delete({ name: rule });
  assert.equal(deleted.status, 'inactive');
  await ow.triggers.delete({ name: trigger });
  await assert.rejects(ow.triggers.get({ name: trigger }), (err) => err.statusCode === 404);
});

test('feeds: /whisk.system/alarms/interval through ow.feeds', { skip }, async () => {
  const ow = client();
  const trigger = unique('npm-interval');
  const feedName = '/whisk.system/alarms/interval';
  await ow.triggers.create({ name: trigger, trigger: { annotations: [{ key: 'feed', value: feedName }] } });
  const action = unique('npm-alarm-echo');
  await ow.actions.create({ name: action, action: ECHO, kind: 'nodejs:20' });
  await ow.rules.create({ name: unique('npm-alarm-rule'), trigger, action });

  const since = Date.now();
  const startDate = Date.now() + 2000;
  const created = await ow.feeds.create({ name: feedName, trigger, params: { minutes: 1, startDate, trigger_payload: 'tick' } });
  assert.deepEqual(created.response.result, { status: 'success' });

  const read = await ow.feeds.get({ name: feedName, trigger });
  assert.equal(read.response.result.config.minutes, 1);
  assert.equal(read.response.result.config.startDate, startDate);
  assert.deepEqual(read.response.result.config.payload, { payload: 'tick' });
  assert.equal(read.response.result.status.active, true);

  // The first fire comes at startDate.
  const fires = await eventually(async () => {
    const list = await ow.activations.list({ name: trigger, since, docs: true });
    return list.length > 0 ? list : null;
  });
  assert.deepEqual(fires[0].response.result, { payload: 'tick' });

  // A failing lifecycle event rejects, as upstream's feed does.
  await assert.rejects(
    ow.feeds.update({ name: feedName, trigger, params: { minutes: 0.5 } }),
    (err) => JSON.stringify(err.error).includes('the minutes parameter must be an integer'),
  );

  const removed = await ow.feeds.delete({ name: feedName, trigger });
  assert.deepEqual(removed.response.result, { status: 'success' });
  await ow.triggers.delete({ name: trigger });
});
