raise RuntimeError("cannot start")


def main(args):
    return {}
