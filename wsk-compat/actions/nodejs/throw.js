// Throws synchronously from main, which the runtime treats as a developer error.
function main(params) {
  throw new Error('compat suite thrown on purpose');
}
