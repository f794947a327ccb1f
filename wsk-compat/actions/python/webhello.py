# Web action in python answering in the .http shape.
def main(args):
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "text/plain"},
        "body": "hello " + args.get("name", "stranger"),
    }
