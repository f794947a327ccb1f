// Returns an already-resolved promise.
function main(params) {
  return Promise.resolve({ payload: 'promised ' + (params.word || 'nothing') });
}
