// Web action answering in the .http shape ({statusCode, headers, body});
// the path after the action name picks the answer.
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC';

function main(params) {
  switch (params.__ow_path) {
    case '/redirect':
      return { statusCode: 302, headers: { location: 'https://openwhisk.apache.org/' } };
    case '/png':
      return { headers: { 'Content-Type': 'image/png' }, body: PNG };
    case '/cookies':
      return { statusCode: 201, headers: { 'Set-Cookie': ['a=b', 'c=d; Path=/'] }, body: '<p>made</p>' };
    case '/json':
      return { headers: { 'Content-Type': 'application/json' }, body: { method: params.__ow_method } };
    case '/empty':
      return {};
    case '/teapot':
      return { error: { statusCode: 418, body: 'short and stout' } };
    case '/options':
      return { headers: { 'Access-Control-Allow-Origin': 'https://example.com', 'Access-Control-Allow-Methods': 'OPTIONS, GET' } };
    default:
      return { statusCode: 404, body: 'no page at ' + params.__ow_path };
  }
}
