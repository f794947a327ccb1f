def main(args):
    raise ValueError("bad input: %s" % args.get("x"))
