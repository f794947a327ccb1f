// Sequences and conductor actions through the openwhisk npm client.
//
// Needs __OW_API_HOST and __OW_API_KEY (TestNpmClient sets both); without
// them every test is skipped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { skip, ID_RE, client, unique, eventually } from './helpers.mjs';

const INC = 'function main(p) { return { n: (p.n || 0) + 1 }; }';
const FAIL = "function main(p) { return { error: 'failed at ' + p.n }; }";

test('sequences: create with the sequence option, invoke, records', { skip }, async () => {
  const ow = client();
  const inc = unique('npm-seq-inc');
  const fail = unique('npm-seq-fail');
  const seq = unique('npm-seq');
  const broken = unique('npm-seq-broken');
  await ow.actions.create({ name: inc, action: INC, kind: 'nodejs:20' });
  await ow.actions.create({ name: fail, action: FAIL, kind: 'nodejs:20' });

  const created = await ow.actions.create({ name: seq, sequence: [`/_/${inc}`, `/guest/${inc}`] });
  assert.deepEqual(created.exec, { kind: 'sequence', components: [`/guest/${inc}`, `/guest/${inc}`] });
  assert.deepEqual(created.parameters, [{ key: '_actions', value: [`/guest/${inc}`, `/guest/${inc}`] }]);
  assert.ok(created.annotations.some((a) => a.key === 'exec' && a.value === 'sequence'));

  assert.deepEqual(await ow.actions.invoke({ name: seq, params: { n: 40 }, blocking: true, result: true }), { n: 42 });

  const activation = await ow.actions.invoke({ name: seq, params: { n: 0 }, blocking: true });
  assert.match(activation.activationId, ID_RE);
  assert.equal(activation.response.success, true);
  assert.deepEqual(activation.response.result, { n: 2 });
  assert.equal(activation.logs.length, 2);
  const annotations = Object.fromEntries(activation.annotations.map((a) => [a.key, a.value]));
  assert.equal(annotations.topmost, true);
  assert.equal(annotations.kind, 'sequence');
  assert.equal(annotations.path, `guest/${seq}`);
  for (const id of activation.logs) {
    const child = await eventually(() => ow.activations.get({ activationId: id }));
    assert.equal(child.name, inc);
    assert.equal(child.cause, activation.activationId);
  }

  const accepted = await ow.actions.invoke({ name: seq, params: { n: 5 } });
  assert.deepEqual(Object.keys(accepted), ['activationId']);
  const later = await eventually(() => ow.activations.get({ activationId: accepted.activationId }));
  assert.deepEqual(later.response.result, { n: 7 });

  await ow.actions.create({ name: broken, sequence: [`/_/${inc}`, `/_/${fail}`, `/_/${inc}`] });
  await assert.rejects(ow.actions.invoke({ name: broken, params: { n: 1 }, blocking: true }), (err) => {
    assert.equal(err.statusCode, 502);
    assert.equal(err.error.response.status, 'application error');
    assert.equal(err.error.response.result.error, 'failed at 2');
    assert.equal(err.error.logs.length, 2);
    return true;
  });

  await assert.rejects(ow.actions.create({ name: unique('npm-seq-bad'), sequence: [`/_/${unique('missing')}`] }), (err) => {
    assert.equal(err.statusCode, 400);
    assert.equal(err.error.error, 'Sequence component does not exist.');
    return true;
  });
  await assert.rejects(ow.actions.update({ name: seq, sequence: [`/_/${seq}`] }), (err) => {
    assert.equal(err.statusCode, 400);
    assert.equal(err.error.error, 'Sequence may not refer to itself.');
    return true;
  });

  for (const name of [seq, broken, inc, fail]) await ow.actions.delete({ name });
});

test('conductor actions: a composition driven by the conductor', { skip }, async () => {
  const ow = client();
  const inc = unique('npm-cond-inc');
  const conductor = unique('npm-conductor');
  await ow.actions.create({ name: inc, action: INC, kind: 'nodejs:20' });
  // Runs inc until n reaches the target, carrying the target in state.
  const code = `function main(p) {
    const target = p.target;
    if (p.n >= target) return { params: { n: p.n } };
    return { action: '${inc}', params: { n: p.n }, state: { target } };
  }`;
  await ow.actions.create({
    name: conductor,
    action: code,
    kind: 'nodejs:20',
    annotations: { conductor: true },
  });

  const activation = await ow.actions.invoke({ name: conductor, params: { n: 0, target: 3 }, blocking: true });
  assert.deepEqual(activation.response.result, { n: 3 });
  assert.equal(activation.logs.length, 7); // conductor, inc, conductor, inc, conductor, inc, conductor
  const annotations = Object.fromEntries(activation.annotations.map((a) => [a.key, a.value]));
  assert.equal(annotations.conductor, true);
  assert.equal(annotations.kind, 'sequence');
  assert.equal(annotations.topmost, true);

  for (const name of [conductor, inc]) await ow.actions.delete({ name });
});
