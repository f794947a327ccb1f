"""Helper module, proving that the archive's other files are importable."""


def shout(name):
    return "Zipped hello, " + name.upper() + "!"
