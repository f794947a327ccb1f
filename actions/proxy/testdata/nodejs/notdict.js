function main() {
  return 'just a string';
}
