// A global main function, as most text actions are written.
function main(params) {
  console.log('hello from stdout: ' + params.name);
  console.error('hello from stderr');
  return { payload: 'Hello, ' + params.name };
}
