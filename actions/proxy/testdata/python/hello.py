import sys


def main(args):
    print("hello from stdout: " + args.get("name", "stranger"))
    print("hello from stderr", file=sys.stderr)
    return {"payload": "Hello, " + args.get("name", "stranger")}
