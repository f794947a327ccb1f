// Web action of the compat-full package: an HTML page built from the
// query, the method and the package's "greeting" input.
function main(params) {
  return {
    statusCode: 200,
    headers: { 'Content-Type': 'text/html' },
    body: '<p>' + params.greeting + ' ' + (params.name || 'web') + ' via ' + params.__ow_method + '</p>',
  };
}
