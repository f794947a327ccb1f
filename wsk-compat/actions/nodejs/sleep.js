// Waits params.ms milliseconds (default 1000) before answering.
function main(params) {
  const ms = Number(params.ms || 1000);
  return new Promise(function (resolve) {
    setTimeout(function () {
      resolve({ slept: ms });
    }, ms);
  });
}
