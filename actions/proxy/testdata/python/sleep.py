import time


def main(args):
    time.sleep(args.get("seconds", 0))
    return {"slept": args.get("seconds", 0)}
