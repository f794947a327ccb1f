function main(params) {
  if (params.plain) {
    return Promise.reject({ code: 42 });
  }
  return new Promise((resolve, reject) => {
    setTimeout(() => reject(new Error('rejected: ' + params.why)), 10);
  });
}
