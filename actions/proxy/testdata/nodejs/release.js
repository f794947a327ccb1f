// Runs until the file params.release exists, or throws at once when
// params.throw is set.
const fs = require('fs');

function main(params) {
  if (params.throw) throw new Error('boom');
  return wait(params);
}

async function wait(params) {
  console.log(`started ${params.name} ${process.pid}`);
  process.stdout.write(`pending ${params.name}`);
  while (!fs.existsSync(params.release)) await new Promise((resolve) => setTimeout(resolve, 5));
  process.stdout.write(' released\n');
  console.error(`bye ${params.name}`);
  return { name: params.name, pid: process.pid };
}
