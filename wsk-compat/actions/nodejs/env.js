// Reports the __OW_* environment the platform gives the action.
function main(params) {
  const env = process.env;
  return {
    action_name: env.__OW_ACTION_NAME,
    action_version: env.__OW_ACTION_VERSION,
    namespace: env.__OW_NAMESPACE,
    activation_id: env.__OW_ACTIVATION_ID,
    deadline: env.__OW_DEADLINE,
    api_host: env.__OW_API_HOST,
    has_api_key: Object.prototype.hasOwnProperty.call(env, '__OW_API_KEY'),
    api_key: env.__OW_API_KEY || null
  };
}
