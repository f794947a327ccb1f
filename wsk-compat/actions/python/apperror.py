"""Raises from main; the Python launcher turns it into an application error."""


def main(args):
    raise ValueError("python raised on purpose")
