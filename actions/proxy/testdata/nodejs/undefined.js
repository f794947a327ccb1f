function main() {
  console.log('returns nothing');
}
