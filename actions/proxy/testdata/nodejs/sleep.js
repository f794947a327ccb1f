// module.exports.main style, async function.
module.exports.main = async function (params) {
  await new Promise((resolve) => setTimeout(resolve, params.ms));
  return { slept: params.ms };
};
