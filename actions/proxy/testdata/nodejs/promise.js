function main(params) {
  return Promise.resolve({ done: true, n: params.n });
}
