const helper = require('./helper');

exports.handler = function (params) {
  return { greeting: helper.greet(params.name) };
};
