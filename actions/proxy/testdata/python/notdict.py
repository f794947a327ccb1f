def main(args):
    return 42
