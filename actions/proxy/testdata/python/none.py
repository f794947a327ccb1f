def main(args):
    print("returns nothing")
