// limits.concurrency through the openwhisk npm client: activations of an
// action with concurrency N share one container, each with its own logs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { skip, client, source, unique, eventually } from './helpers.mjs';

const BARRIER = source('nodejs/barrier.js');

test('concurrency: limits.concurrency 4 runs 4 activations in one container', { skip }, async () => {
  const ow = client();
  const name = unique('npm-conc');
  const created = await ow.actions.create({ name, action: BARRIER, kind: 'nodejs:20', limits: { concurrency: 4 } });
  assert.equal(created.limits.concurrency, 4);

  const runs = await Promise.all([0, 1, 2, 3].map((i) =>
    ow.actions.invoke({ name, params: { i, want: 4 }, blocking: true })));
  const tokens = new Set();
  for (const [i, run] of runs.entries()) {
    assert.equal(run.response.result.most, 4, `activation ${i} ran alone`);
    tokens.add(run.response.result.token);
    const { logs } = await eventually(async () => {
      const got = await ow.activations.logs({ name: run.activationId });
      if (got.logs.length < 3) throw Object.assign(new Error('no logs yet'), { statusCode: 404 });
      return got;
    });
    // Each record has its own three lines (stdout and stderr are read apart: compare sorted).
    assert.deepEqual(logs.map((l) => l.replace(/^\S+\s+/, '')).sort(),
      [`stderr: middle ${i}`, `stdout: end ${i}`, `stdout: start ${i}`]);
  }
  assert.equal(tokens.size, 1, `the activations ran in containers ${[...tokens]}`);

  await assert.rejects(ow.actions.update({ name, action: BARRIER, limits: { concurrency: 501 } }),
    (err) => err.statusCode === 400 && /concurrency 501 exceeds allowed threshold of 500/.test(err.message));
  await ow.actions.delete({ name });
});
