// Fails the way an application reports a failure: a result carrying "error".
function main(params) {
  return { error: 'bad input: ' + (params.why || 'no reason given') };
}
