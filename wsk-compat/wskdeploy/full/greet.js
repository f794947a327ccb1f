// First step of compat-full/full-sequence: the package's "greeting" input
// and the action's "name" input make the payload.
function main(params) {
  return { payload: params.greeting + ', ' + params.name + '!', by: 'nodejs' };
}
