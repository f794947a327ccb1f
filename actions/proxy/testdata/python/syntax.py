def main(args:
    return {}
