def handler(args):
    return {"handled": args}
