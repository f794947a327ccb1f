import helper


def entry(args):
    return {"greeting": helper.greet(args.get("name", "stranger"))}
