// exports.main style.
exports.main = (params) => params;
