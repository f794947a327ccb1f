"""Entry point of the zipped Python action."""

from helper import shout


def main(args):
    return {"greeting": shout(args.get("name", "zip"))}
