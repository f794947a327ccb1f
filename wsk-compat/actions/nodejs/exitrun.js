// Kills the runtime during /run: the activation never answers.
function main(params) {
  console.error('exiting during the run');
  process.exit(1);
}
