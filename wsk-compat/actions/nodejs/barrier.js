// Runs until p.want activations run together in this container (or 10 s
// passed), logging on both streams around awaits; returns the container's
// token and the most activations it saw at once (concurrency tests).
const token = Math.random().toString(36).slice(2);
let inflight = 0, most = 0;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function main(p) {
  inflight++;
  most = Math.max(most, inflight);
  console.log('start ' + p.i);
  await sleep(5);
  console.error('middle ' + p.i);
  const until = Date.now() + 10000;
  while (most < p.want && Date.now() < until) await sleep(10);
  console.log('end ' + p.i);
  inflight--;
  return {token, most, i: p.i};
}
