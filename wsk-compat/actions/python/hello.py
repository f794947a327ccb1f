"""Greets the caller by name; "stranger" when no name is given."""


def main(args):
    name = args.get("name", "stranger")
    return {"payload": "Hello, " + name + "!"}
