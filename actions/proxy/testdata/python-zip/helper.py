def greet(name):
    return "Hi, %s!" % name
