function main() {
  return { error: 'application failure' };
}
