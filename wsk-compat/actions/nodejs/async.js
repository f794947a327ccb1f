// Resolves a promise from a timer, so the result arrives after main returned.
function main(params) {
  const delay = params.delay || 50;
  return new Promise(function (resolve) {
    setTimeout(function () {
      resolve({ payload: 'resolved after ' + delay + ' ms' });
    }, delay);
  });
}
