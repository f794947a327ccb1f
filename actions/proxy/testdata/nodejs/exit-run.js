function main() {
  console.log('exiting mid-run');
  process.exit(3);
}
