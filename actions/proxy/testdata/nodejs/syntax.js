function main(params {
  return {};
}
