// Entry module named by package.json "main"; the action's exec.main is "greet".
const words = require('./words');

exports.greet = function (params) {
  return { greeting: words.salute(params.name || 'zip') };
};

exports.main = function () {
  return { error: 'the default entry point must not be used' };
};
