"""Second step of compat-full/full-sequence: upper-cases the payload and
appends the action's "suffix" input."""


def main(args):
    return {
        "payload": args.get("payload", "").upper() + args.get("suffix", ""),
        "steps": [args.get("by"), "python"],
    }
