// Kills the runtime while the code is being loaded: /init never answers.
process.exit(3);

function main(params) {
  return { unreachable: true };
}
