// Prints a few numbered lines on stdout and one on stderr.
function main(params) {
  const count = params.count || 3;
  for (let i = 1; i <= count; i++) {
    console.log('compat log line ' + i);
  }
  console.error('compat error line');
  return { printed: count };
}
