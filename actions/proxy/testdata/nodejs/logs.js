function main(params) {
  for (let i = 0; i < params.lines; i++) {
    console.log('out ' + i);
    console.error('err ' + i);
  }
  return { lines: params.lines };
}
