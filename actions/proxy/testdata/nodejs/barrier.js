// Overlapping activations: each waits until params.n activations have
// arrived (or gives up after 10 s) and returns how many it saw. Every step
// logs, on both streams, with awaits in between.
let arrived = 0;
let waiting = [];
console.log('module loaded');
process.stdout.write('no newline yet'); // the next tagged line must still start a line
process.stderr.write('module loaded on stderr\n');

function barrier(n) {
  arrived++;
  if (arrived >= n) {
    for (const release of waiting) release();
    waiting = [];
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, 10000);
    waiting.push(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

function main(params) {
  const name = params.name;
  if (params.exit) {
    console.log(`exiting ${name}`);
    process.exit(3);
  }
  return run(name, params.n);
}

async function run(name, n) {
  console.log(`start ${name}`);
  process.stdout.write(`partial ${name}`);
  await barrier(n);
  const seen = arrived;
  console.error(`after barrier ${name}`);
  await new Promise((resolve) => setImmediate(resolve));
  process.stdout.write(' done\n');
  process.stderr.write(Buffer.from(`unfinished ${name}`));
  await new Promise((resolve) => setTimeout(resolve, 1));
  console.log('line one\nline two %s', name);
  return { max: seen };
}
