function main(params) {
  return new Promise((resolve) => {
    setTimeout(() => resolve({ waited: params.ms }), params.ms);
  });
}
