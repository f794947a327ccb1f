// Greets the caller by name; "stranger" when no name is given.
function main(params) {
  const name = params.name || 'stranger';
  return { payload: 'Hello, ' + name + '!' };
}
