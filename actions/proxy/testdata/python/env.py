import os

KEYS = ["__OW_ACTIVATION_ID", "__OW_NAMESPACE", "__OW_ACTION_NAME", "__OW_DEADLINE",
        "__OW_API_KEY", "__OW_TRANSACTION_ID", "MY_INIT_VAR", "INIT_JSON"]


def main(args):
    return {"env": {k: os.environ.get(k) for k in KEYS}}
