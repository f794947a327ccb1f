// Returns its arguments unchanged.
function main(params) {
  return params;
}
