const os = require('os');
function main() {
  const keys = ['__OW_ACTIVATION_ID', '__OW_NAMESPACE', '__OW_ACTION_NAME', '__OW_DEADLINE',
    '__OW_API_KEY', '__OW_TRANSACTION_ID', 'MY_INIT_VAR', 'INIT_JSON'];
  const env = {};
  for (const k of keys) {
    env[k] = process.env[k] === undefined ? null : process.env[k];
  }
  return { env: env, hasRequire: typeof os.hostname === 'function' };
}
