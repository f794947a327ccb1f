console.log('about to exit');
process.exit(1);
function main() {
  return {};
}
