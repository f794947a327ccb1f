// Helper module, proving that the archive's other files are available.
exports.salute = function (name) {
  return 'Zipped hello, ' + name + '!';
};
